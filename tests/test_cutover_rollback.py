"""Cutover and rollback on a real account (in-process moto, target=aws, the SSM agents answered by the test;
issue 10, finding #7): 05 changes no DNS record; the cutover points the name at the way in (the record it
replaces saved in the stack's ledger) and lifts the dev database's write freeze; the rollback puts the old
record back and accounts for the writes made in RDS since the cutover, or refuses and says which."""
from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pytest
from moto import mock_aws

from conftest import AccountClock, make_ctx
from ssm_agent import FINGERPRINTS, agent, cell_ends_during, moved_answers
from workbook import dbmove, engine
from workbook.dbmove import NotReady
from workbook.steps import cutover, edge

sys.path.insert(0, str(Path(__file__).resolve().parent / "sandbox"))
from dataplane_stack import create_stack  # noqa: E402

DOMAIN = "api.example.com"
OLD = {"Name": DOMAIN + ".", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.10"}]}
LEDGER = "LEDGER|moved|2026-11-27 10:00:00+00|i-dev postgres app|dumps/x/app.dump\n"


@pytest.fixture
def stack(monkeypatch):
    """The stack 08 needs, a zone the user owns with the name's old record in it, and instances that answer:
    `rds_now` is what the RDS database holds now (the fingerprints at the move, unless a test writes)."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    monkeypatch.setenv("MOTO_ACM_VALIDATION_WAIT", "0")

    def no_answer(*a, **kw):   # the instances' public addresses are not reachable from a test
        raise OSError("unreachable")
    monkeypatch.setattr(urllib.request, "urlopen", no_answer)
    with mock_aws():
        ctx = make_ctx(target="aws", aws_account_id="123456789012", domain_name=DOMAIN, entry="alb")
        ctx.target.clock = AccountClock()
        made = create_stack(ctx, ctx.params, managed_secret=True, release=False)
        ctx.client("elbv2").add_tags(ResourceArns=[made["lb"], made["tg"]], Tags=[   # the stack's, as 04 makes them
            {"Key": "workbook:stack", "Value": "demo"}, {"Key": "workbook:step", "Value": "04_compute"}])
        r53 = ctx.client("route53")
        zone = r53.create_hosted_zone(Name="example.com", CallerReference="owner-made")["HostedZone"]["Id"]
        zone_id = zone.rsplit("/", 1)[-1]
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": OLD}]})
        state = {"rds_now": FINGERPRINTS, "sent": []}

        def answers(cmd):
            comment = cmd.get("Comment", "")
            if "read the move ledger" in comment and state.get("moved"):
                moved = FINGERPRINTS.replace("FP|", "MOVED|")
                return "Success", LEDGER + moved + state["rds_now"], ""
            if "already moved" in comment:
                return "Success", "FREEZE|new sessions read-only: off\n" + FINGERPRINTS, ""
            if "lift the dev database's write freeze" in comment:
                return "Success", "FREEZE|off\n", ""
            return moved_answers(cmd)
        agent(ctx, state["sent"], answers)
        yield ctx, zone_id, made, state


def _a(ctx, zone_id):
    return edge.find_record(ctx, zone_id, DOMAIN, "A")


def _move(ctx, state):
    result = dbmove.move(ctx)
    state["moved"] = True
    return result


def test_05_changes_no_dns_record_before_the_data_has_moved(stack):
    ctx, zone_id, _, _ = stack
    edge.apply(ctx)
    assert _a(ctx, zone_id) == OLD          # the user's clients still go where they went


def test_the_cutover_waits_for_the_move(stack):
    ctx, zone_id, _, _ = stack
    with pytest.raises(NotReady, match="moved"):
        cutover.cutover(ctx)
    assert _a(ctx, zone_id) == OLD


def test_the_cutover_points_the_name_saves_the_old_record_and_lifts_the_freeze(stack):
    ctx, zone_id, made, state = stack
    edge.apply(ctx)
    _move(ctx, state)
    cutover.cutover(ctx)
    alias = _a(ctx, zone_id)
    lb = ctx.client("elbv2").describe_load_balancers(LoadBalancerArns=[made["lb"]])["LoadBalancers"][0]
    assert alias["AliasTarget"]["DNSName"].rstrip(".").removeprefix("dualstack.") == lb["DNSName"].lower()
    saved = [e for rid, e in engine.ledger(ctx)["dns_record"].items() if rid.endswith(f"/{DOMAIN}/A")]
    assert saved and saved[0]["previous"] == OLD
    assert any("lift the dev database's write freeze" in c["Comment"] for c in state["sent"])


def _when(ctx, service, operation, seen, key, match=lambda params: True):
    def note(params, **_):
        if match(params):
            seen.setdefault(key, ctx.target.clock.stamp())
    ctx.client(service).meta.events.register(f"before-parameter-build.{service}.{operation}", note)


def test_the_freeze_stays_until_no_resolver_can_still_hold_the_old_record(stack, capsys):
    """Resolvers keep answering with the replaced record for its TTL after the switch: clients they answer
    still reach the dev host, and a freeze lifted at once let their writes land where production no
    longer reads (lost). The freeze goes only once the TTL has passed since the name was switched."""
    ctx, zone_id, _, state = stack
    edge.apply(ctx)
    _move(ctx, state)
    seen: dict = {}
    _when(ctx, "route53", "ChangeResourceRecordSets", seen, "switched")
    _when(ctx, "ssm", "SendCommand", seen, "lifted", lambda p: "lift the dev database" in p.get("Comment", ""))
    cutover.cutover(ctx)
    assert "AliasTarget" in _a(ctx, zone_id)
    assert seen["lifted"] - seen["switched"] >= OLD["TTL"]
    assert f"TTL {OLD['TTL']} s" in capsys.readouterr().out


def test_a_cutover_stopped_during_that_wait_resumes_it_instead_of_starting_over(stack):
    ctx, zone_id, _, state = stack
    edge.apply(ctx)
    _move(ctx, state)
    clock = ctx.target.clock

    class Stopped(Exception):
        pass

    def stop(aws_seconds):   # the kernel dies during the wait
        raise Stopped
    clock.sleep = stop
    with pytest.raises(Stopped):
        cutover.cutover(ctx)
    assert not any("lift the dev database's write freeze" in c["Comment"] for c in state["sent"])
    del clock.sleep
    clock.t += OLD["TTL"]            # the TTL passes before the rerun
    slept = clock.slept
    cutover.cutover(ctx)
    assert clock.slept == slept      # counted from the switch, not from the rerun
    assert any("lift the dev database's write freeze" in c["Comment"] for c in state["sent"])


def test_a_cutover_that_could_not_point_the_name_keeps_the_dev_database_frozen(stack, capsys):
    """When domain_name has no zone (or no way in) the name still sends clients to the dev host: lifting the
    freeze there would let them write where production no longer reads."""
    ctx, _, _, state = stack
    _move(ctx, state)
    cutover.cutover(ctx.replace(domain_name="api.example.org"))   # no zone holds it
    assert not any("lift the dev database's write freeze" in c["Comment"] for c in state["sent"])
    assert "write freeze stays" in capsys.readouterr().out


def test_a_rollback_with_writes_since_cutover_is_refused_and_says_which(stack):
    ctx, zone_id, _, state = stack
    edge.apply(ctx)
    _move(ctx, state)
    cutover.cutover(ctx)
    state["rds_now"] = FINGERPRINTS.replace("FP|items|5|def", "FP|items|7|fed")   # production took 2 rows
    with pytest.raises(cutover.RollbackRefused, match=r"items: \+2 rows") as refused:
        cutover.rollback(ctx)
    assert "leave_writes_in_rds" in str(refused.value)
    assert "AliasTarget" in _a(ctx, zone_id)       # refused: nothing changed
    done = cutover.rollback(ctx, leave_writes_in_rds=True)
    assert _a(ctx, zone_id) == OLD
    said = " ".join(done["detail"])
    assert "items: +2 rows" in said and "stay in RDS" in said
    assert not [rid for rid in engine.ledger(ctx).get("dns_record", {}) if rid.endswith(f"/{DOMAIN}/A")]


def test_a_rollback_with_no_writes_since_cutover_says_so(stack):
    ctx, zone_id, _, state = stack
    edge.apply(ctx)
    _move(ctx, state)
    cutover.cutover(ctx)
    done = cutover.rollback(ctx)
    assert _a(ctx, zone_id) == OLD
    assert "none" in done.set_index("what").loc["writes in RDS since cutover", "detail"]


def test_writes_that_reach_rds_while_resolvers_still_hold_the_alias_are_listed_by_the_rollback(stack):
    """After the old record is back, resolvers may answer with the cutover's alias for its TTL (60 s) and
    send clients to the way in: their writes land in RDS after the rollback checked it, and went unsaid."""
    ctx, zone_id, _, state = stack
    edge.apply(ctx)
    _move(ctx, state)
    cutover.cutover(ctx)
    clock, real_sleep = ctx.target.clock, ctx.target.clock.sleep

    def a_client_writes_meanwhile(aws_seconds):
        if _a(ctx, zone_id) == OLD:        # the switch back is done; a cached answer still sends one client on
            state["rds_now"] = FINGERPRINTS.replace("FP|items|5|def", "FP|items|6|eee")
        real_sleep(aws_seconds)
    clock.sleep = a_client_writes_meanwhile
    try:
        done = cutover.rollback(ctx).set_index("what")
    finally:
        del clock.sleep
    assert _a(ctx, zone_id) == OLD
    late = done.loc["writes in RDS during the switch back", "detail"]
    assert "items: +1 rows" in late and "stay in RDS" in late


def test_declared_permissions_cover_the_move_the_cutover_the_rollback_and_the_destroy(stack):
    from workbook import steps
    from workbook.iam_actions import actions_for_calls
    ctx, _, _, state = stack
    edge.apply(ctx)
    mark = ctx.calls.mark()
    _move(ctx, state)
    cutover.cutover(ctx)
    cutover.rollback(ctx)
    cutover.destroy(ctx)
    used = actions_for_calls(ctx.calls.calls[mark:])
    declared = set(steps.get("08_cutover_compare").all_permissions())
    assert used <= declared, used - declared


LIFT = "lift the dev database's write freeze"


def _dump_outlasts_the_cell(ctx, monkeypatch):
    """A move whose dump command ran past its cell (StillWaiting): the freeze stays, as it must while the
    command runs; then the user gives the move up."""
    from workbook import progress
    give_time_back = cell_ends_during(monkeypatch, "freeze, fingerprint and dump")
    with pytest.raises(progress.StillWaiting):
        dbmove.move(ctx)
    give_time_back()


@pytest.mark.parametrize("destroy", ["08_cutover_compare", "09_teardown"])
def test_a_move_given_up_before_any_cutover_leaves_the_dev_database_writable_after_destroy(stack, monkeypatch, destroy):
    """Nothing lifted a freeze the move set when the move never finished and nothing was cut over: 08's
    destroy and the teardown removed the stack and left the dev app read-only. They lift it (a dry run
    says it would), before the dev host's move profile goes."""
    from workbook import steps
    ctx, _, made, state = stack
    _dump_outlasts_the_cell(ctx, monkeypatch)
    assert not any(LIFT in c["Comment"] for c in state["sent"])
    fn = steps.get(destroy).fn("destroy")
    planned = fn(ctx.replace(dry_run=True))
    assert "would lift the write freeze" in set(planned.action)
    assert not any(LIFT in c["Comment"] for c in state["sent"])
    done = fn(ctx)
    lifts = [c for c in state["sent"] if LIFT in c["Comment"]]
    assert [c["InstanceIds"] for c in lifts] == [[made["dev"]]]
    assert any(a.startswith("lifted the write freeze") for a in done.action), done
    assert not [a for a in done.action if a.startswith("failed")], done
    again = fn(ctx)                                        # lifted once: a second destroy has nothing to lift
    assert len([c for c in state["sent"] if LIFT in c["Comment"]]) == 1
    assert not any("write freeze" in a for a in again.action)


def test_a_teardown_after_the_cutover_switched_the_name_keeps_the_freeze_and_says_why(stack):
    """Clients were cut over (the name switched) and the cutover stopped before lifting the freeze: what
    production wrote since is in RDS only, so the teardown does not make the old dev database writable
    on its own; it says so and how to lift it."""
    from workbook.steps import teardown
    ctx, _, _, state = stack
    edge.apply(ctx)
    _move(ctx, state)

    class Stopped(Exception):
        pass

    def stop(aws_seconds):   # the kernel dies during the TTL wait, after the switch
        raise Stopped
    ctx.target.clock.sleep = stop
    with pytest.raises(Stopped):
        cutover.cutover(ctx)
    del ctx.target.clock.sleep
    done = teardown.destroy(ctx)
    assert not any(LIFT in c["Comment"] for c in state["sent"])
    kept = [a for a in done.action if "write freeze" in a]
    assert kept and "cut over" in kept[0] and "unfreeze_dev" in kept[0]

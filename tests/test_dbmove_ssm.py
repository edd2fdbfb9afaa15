"""The database move on a real account, through SSM Run Command, as a user meets it: on in-process moto
with the instances' answers given by the test (what the agent would report), and the commands the
workbook sends run under /bin/sh the way AWS-RunShellScript runs them."""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from moto import mock_aws

from conftest import AccountClock, make_ctx
from ssm_agent import FINGERPRINTS as FINGERPRINTS_OF_THE_HELPER
from ssm_agent import agent as _agent  # noqa: E402
from ssm_agent import cell_ends_during, moved_answers
from workbook import dbmove

sys.path.insert(0, str(Path(__file__).resolve().parent / "sandbox"))
from dataplane_stack import create_stack  # noqa: E402


@pytest.fixture
def mysql_stack(monkeypatch):
    """A real-account context whose dev host runs MySQL (and the RDS instance is MySQL too)."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        ctx = make_ctx(target="aws", aws_account_id="123456789012", db_engine="mysql",
                       db_engine_version="8.0.39")
        stack = create_stack(ctx, ctx.params, managed_secret=True, release=False, engine="mysql", dev_db="mysql")
        yield ctx, stack


def _commands_of_a_move(ctx) -> list[dict]:
    """The SSM commands a move sends when every command succeeds (what happens after is not asked)."""
    sent: list[dict] = []
    _agent(ctx, sent, lambda cmd: ("Success", "", ""))
    try:
        dbmove.move(ctx)
    except Exception:  # noqa: BLE001
        pass
    return sent


def test_a_mysql_dev_host_is_dumped_with_mysqldump_not_pg_dump(mysql_stack):
    ctx, stack = mysql_stack
    sent = _commands_of_a_move(ctx)
    on_dev = "\n".join(line for c in sent if c["InstanceIds"] == [stack["dev"]]
                       for line in c["Parameters"]["commands"])
    assert on_dev, "no command reached the dev host"
    assert "pg_dump" not in on_dev and "mysqldump" in on_dev


STUBS = ("sudo", "psql", "pg_dump", "pg_restore", "mysql", "mysqldump", "aws", "dnf", "apt-get")


def _stub_bin(tmp_path: Path) -> Path:
    """Programs a host would have, each doing nothing and succeeding (sudo runs what follows it)."""
    d = tmp_path / "bin"
    d.mkdir()
    bodies = {"sudo": '[ "$1" = -u ] && shift 2\nexec "$@"',
              "aws": 'case "$*" in *secretsmanager*) echo \'{"password": "Secret123"}\';; esac',
              "pg_restore": 'echo "pg_restore (PostgreSQL) 16.4"', "mysql": 'case "$*" in *--version*) echo "mysql  Ver 15.1 Distrib 10.11";; *) cat >/dev/null;; esac'}
    for name in STUBS:
        body = "#!/bin/sh\n" + bodies.get(name, "exit 0") + "\n"
        (d / name).write_text(body)
        (d / name).chmod(stat.S_IRWXU)
    return d


def test_every_command_survives_the_agents_bin_sh(mysql_stack, tmp_path):
    """AWS-RunShellScript hands the commands to /bin/sh, which is dash on Debian and Ubuntu: `set -o
    pipefail` is an error there. Every command the move sends must run under it."""
    ctx, stack = mysql_stack
    sent = _commands_of_a_move(ctx)
    assert sent
    stubs = _stub_bin(tmp_path)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path)}
    assert Path("/bin/sh").resolve().name == "dash", "this test needs the shell the agent uses on Debian/Ubuntu"
    for c in sent:
        script = "\n".join(c["Parameters"]["commands"])
        run = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=60,
                             cwd=tmp_path, stdin=subprocess.DEVNULL)
        assert "Illegal option" not in run.stderr, (c["Comment"], run.stderr)
        assert run.returncode == 0, (c["Comment"], run.stderr[-800:])


def test_a_failed_command_shows_its_stderr_even_when_the_waiter_gives_up(mysql_stack):
    ctx, stack = mysql_stack
    sent: list[dict] = []
    _agent(ctx, sent, lambda cmd: ("Failed", "", "mysqldump: Got error: 1049: Unknown database 'app'"))
    with pytest.raises(RuntimeError, match="Unknown database 'app'") as err:
        dbmove.move(ctx)
    assert "Failed on i-" in str(err.value)



@pytest.fixture
def their_host(monkeypatch):
    """A dev host the workbook did not create (no stack tag, no instance profile), running MySQL."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        ctx = make_ctx(target="aws", aws_account_id="123456789012")
        stack = create_stack(ctx, ctx.params, managed_secret=True, release=False, engine="mysql", dev_db="mysql", dev_owner="user")
        yield ctx, stack


def test_a_host_we_did_not_create_is_not_changed_unless_a_parameter_says_so(their_host):
    ctx, stack = their_host
    sent: list[dict] = []
    _agent(ctx, sent)
    with pytest.raises(dbmove.NotReady, match="dev_attach_profile=true"):
        dbmove.move(ctx.replace(db_engine="mysql"))
    assert not any(c["InstanceIds"] == [stack["dev"]] for c in sent)
    ec2 = ctx.client("ec2")
    assert ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [stack["dev"]]}])["IamInstanceProfileAssociations"] == []
    # allowed: attached for the move, detached afterwards (the host is put back as it was)
    mark = ctx.calls.mark()
    result = dbmove.move(ctx.replace(db_engine="mysql", dev_attach_profile=True))
    assert result.ok and any(c["InstanceIds"] == [stack["dev"]] for c in sent)
    ops = [c.operation for c in ctx.calls.calls[mark:] if "IamInstanceProfile" in c.operation and
           not c.operation.startswith("Describe")]
    assert ops == ["AssociateIamInstanceProfile", "DisassociateIamInstanceProfile"]
    assocs = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [stack["dev"]]}])["IamInstanceProfileAssociations"]
    assert all(a["State"] in ("disassociating", "disassociated") for a in assocs)


def test_a_dev_database_of_another_engine_than_rds_is_not_moved_and_says_why(monkeypatch):
    """#13: 01 found MySQL on the dev host; a PostgreSQL RDS instance gets no made-up move and no PASS."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        ctx = make_ctx(target="aws", aws_account_id="123456789012")
        create_stack(ctx, ctx.params, managed_secret=True, release=False, engine="postgres", dev_db="mysql")
        sent: list[dict] = []
        _agent(ctx, sent)
        with pytest.raises(dbmove.NotReady, match="runs mysql.*nothing is moved"):
            dbmove.move(ctx)
        assert sent == []


def test_a_rebuild_within_the_secrets_recovery_window_gets_a_usable_app_secret():
    """Teardown schedules the app user's secret for deletion (7 days, so a mistake can be undone). A
    rebuild within those days met it as "exists", and the restore on the app server then failed reading
    it ("marked deleted"); AWS also refuses a new secret of that name meanwhile. The rebuild restores the
    stack's own secret and writes the new database's address into it."""
    import json
    from workbook import dbmove_hosts, engine
    with mock_aws():
        ctx = make_ctx(target="aws", aws_account_id="123456789012")
        sm = ctx.client("secretsmanager")
        first = {"Endpoint": {"Address": "old.rds.example", "Port": 5432}, "DBName": "app"}
        arn = dbmove_hosts.ensure_app_secret(ctx, first, "postgres")
        engine.destroy(ctx, ["secret"], step="09_teardown")
        assert sm.describe_secret(SecretId=arn).get("DeletedDate")
        again = dbmove_hosts.ensure_app_secret(ctx, {"Endpoint": {"Address": "new.rds.example", "Port": 5433},
                                                     "DBName": "app"}, "postgres")
        assert again == arn and not sm.describe_secret(SecretId=arn).get("DeletedDate")
        value = json.loads(sm.get_secret_value(SecretId=again)["SecretString"])
        assert (value["host"], value["port"], value["username"]) == ("new.rds.example", 5433, "app_user")


@pytest.mark.parametrize("server", ["mysql", "mariadb"])
def test_a_mysql_freeze_binds_an_app_that_logs_in_as_root(server, tmp_path):
    """On a one-box dev host the app often logs in as root, whom MySQL's read_only does not bind (admin
    rights): writes made during the move would be lost. MySQL's super_read_only binds root as well;
    MariaDB has none, so there the freeze falls back to read_only (it binds every user without READ_ONLY
    ADMIN: the sandbox's dev app is such a user). What the server was told, in order, is recorded."""
    from workbook import dbmove_scripts as s
    said = tmp_path / "said"
    stubs = _stub_bin(tmp_path)
    refuse = 'case "$*" in *super_read_only*) echo "Unknown system variable" >&2; exit 1;; esac\n' \
        if server == "mariadb" else ""
    (stubs / "mysql").write_text("#!/bin/sh\n" + refuse + f'for a; do case "$a" in "SET GLOBAL"*) echo "$a" >> {said};; esac; done\n'
                                 'cat >/dev/null\n')
    script = s.wrap(s.dev_mysql("app", "b", "k", "eu-west-1", dump=False, freeze=True))
    run = subprocess.run(["/bin/sh", "-c", "\n".join(script)], env={"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path)},
                         capture_output=True, text=True, timeout=60, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    told = said.read_text().splitlines() if said.exists() else []
    assert told == (["SET GLOBAL super_read_only = ON"] if server == "mysql" else ["SET GLOBAL read_only = ON"])
    assert "SET GLOBAL read_only = OFF" in s.unfreeze("mysql", "app")   # on MySQL it lifts super_read_only too


@pytest.fixture
def pg_stack(monkeypatch):
    """A real-account context: the stack's dev host (PostgreSQL, no profile yet) and RDS for PostgreSQL."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        ctx = make_ctx(target="aws", aws_account_id="123456789012")
        yield ctx, create_stack(ctx, ctx.params, managed_secret=True, release=False)


def test_a_restore_that_outlasts_its_cell_keeps_its_permissions_and_the_rerun_waits_for_it(pg_stack, monkeypatch):
    """A large database: the restore goes on on the app server after the cell's time is up. The role policy
    that lets it read the dump and the profile that lets the dev host upload must stay while it runs, and
    the rerun must wait for that command rather than start a second restore over it; then both go."""


    from workbook import dbmove_hosts as hosts
    from workbook import names, progress
    ctx, stack = pg_stack
    sent: list[dict] = []
    _agent(ctx, sent, moved_answers)
    give_time_back = cell_ends_during(monkeypatch, "restore into RDS")
    with pytest.raises(progress.StillWaiting):
        dbmove.move(ctx)
    iam, p = ctx.client("iam"), ctx.params
    assert hosts.MOVE_POLICY in iam.list_role_policies(RoleName=names.app_role(p))["PolicyNames"]
    assert hosts.profile_of(ctx, stack["dev"]) is not None
    restore = next(c["CommandId"] for c in sent if "restore into RDS" in c["Comment"])

    # AWS still runs it: ListCommands says InProgress
    def still_running(parsed, **_):
        for c in parsed.get("Commands", []):
            if c["CommandId"] == restore:
                c["Status"] = "InProgress"
    ctx.client("ssm").meta.events.register("after-call.ssm.ListCommands", still_running)
    give_time_back()
    n = len(sent)
    dbmove.move(ctx)
    assert not [c for c in sent[n:] if "restore into RDS" in c["Comment"]]   # waited for, not sent again
    assert hosts.MOVE_POLICY not in iam.list_role_policies(RoleName=names.app_role(p))["PolicyNames"]
    assert hosts.profile_of(ctx, stack["dev"]) is None


def test_a_database_of_many_tables_is_verified_whole_past_run_commands_24000_characters(pg_stack, monkeypatch):
    """GetCommandInvocation returns the first 24,000 bytes of a command's output: the fingerprints of
    600 tables do not fit, and the verification read a cut list. The whole output is read from S3."""
    ctx, _ = pg_stack
    # moto applies a Deny that has a Condition whatever the condition says (it evaluates none): the bucket's
    # TLS-only policy would refuse every request here, where AWS admits the HTTPS ones
    monkeypatch.setattr(dbmove, "tls_only_policy", lambda name: {"Version": "2012-10-17", "Statement": [
        {"Sid": "NoDeletesHere", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
         "Resource": f"arn:aws:s3:::{name}"}]})
    many = "".join(f"FP|table_{i:03d}_with_a_long_descriptive_name|{i}|{i:032x}\n" for i in range(600))
    assert len(many) > 24_000

    def answers(cmd):
        status, out, err = moved_answers(cmd)
        return status, out.replace(FINGERPRINTS_OF_THE_HELPER, many), err
    sent: list[dict] = []
    _agent(ctx, sent, answers)
    result = dbmove.move(ctx)
    assert len(result.verification) == 600 and result.verification.match.all()


def test_a_dev_server_newer_than_the_rds_major_is_refused_before_the_freeze(pg_stack, tmp_path):
    """A dump of PostgreSQL 17 cannot be restored into RDS 16.4: the move says so, naming the parameter
    that fixes it, before the dev database is frozen (nothing to lift afterwards)."""
    ctx, stack = pg_stack
    stubs = _stub_bin(tmp_path)
    said = tmp_path / "said"
    (stubs / "psql").write_text(f'#!/bin/sh\necho "$*" >> {said}\n'
                                'case "$*" in *server_version_num*) echo 170004;; esac\n')

    def dev_host_runs_it(cmd):   # the dev host's command runs under /bin/sh on the stubs; the rest as a move
        if cmd["InstanceIds"] != [stack["dev"]]:
            return moved_answers(cmd)
        run = subprocess.run(["/bin/sh", "-c", "\n".join(cmd["Parameters"]["commands"])], capture_output=True,
                             text=True, cwd=tmp_path, env={"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path)},
                             stdin=subprocess.DEVNULL, timeout=60)
        return ("Success" if run.returncode == 0 else "Failed"), run.stdout, run.stderr
    sent: list[dict] = []
    _agent(ctx, sent, dev_host_runs_it)
    with pytest.raises(dbmove.CommandFailed, match=r"PostgreSQL 17.*RDS instance's 16.*db_engine_version=17"):
        dbmove.move(ctx)
    assert "default_transaction_read_only = on" not in said.read_text()   # never frozen (lifting after is harmless)
    assert not [c for c in sent if "restore into RDS" in c["Comment"]]


def test_a_restore_still_running_when_the_wait_ends_keeps_its_permissions_and_is_no_failure(pg_stack, monkeypatch):
    """The waiter gave up while AWS still ran the restore (InProgress): that was read as a failure, so the
    role policy that lets it read the dump and the dev host's profile were taken away under it. It is a
    wait that ended (StillWaiting): both stay and a rerun waits for the command."""
    from botocore.exceptions import WaiterError


    from workbook import dbmove_hosts as hosts
    from workbook import names, progress
    ctx, stack = pg_stack
    sent: list[dict] = []

    def answers(cmd):
        return ("InProgress", "", "") if "restore into RDS" in cmd["Comment"] else moved_answers(cmd)
    _agent(ctx, sent, answers)
    wait_for = progress.wait_for

    def waiter_gives_up(client, waiter, what, **kw):
        if "restore into RDS" in what:
            raise WaiterError("CommandExecuted", "Max attempts exceeded", {"Status": "InProgress"})
        return wait_for(client, waiter, what, **kw)
    monkeypatch.setattr(hosts.progress, "wait_for", waiter_gives_up)
    with pytest.raises(progress.StillWaiting, match="restore into RDS"):
        dbmove.move(ctx)
    assert not any("lift the dev database's write freeze" in c["Comment"] for c in sent)   # the freeze stays too
    assert hosts.MOVE_POLICY in ctx.client("iam").list_role_policies(RoleName=names.app_role(ctx.params))["PolicyNames"]
    assert hosts.profile_of(ctx, stack["dev"]) is not None


def test_a_restore_delivered_late_and_running_most_of_its_hour_is_waited_for_to_its_end(pg_stack):
    """SendCommand gives the agent 600 s to pick a command up and the script 3600 s to run: a restore that
    starts 5 minutes late and runs 58 minutes succeeds on AWS. The wait stopped at 3600 s in all."""
    ctx, _ = pg_stack
    clock = ctx.target.clock = AccountClock()
    sent: list[dict] = []
    started: dict[str, float] = {}

    def answers(cmd):
        if "restore into RDS" in cmd["Comment"]:
            t0 = started.setdefault(cmd["CommandId"], clock.now())
            if clock.now() - t0 < 300 + 58 * 60:
                return ("Pending" if clock.now() - t0 < 300 else "InProgress"), "", ""
        return moved_answers(cmd)
    _agent(ctx, sent, answers)
    result = dbmove.move(ctx)
    assert result.ok


def test_fingerprints_of_tables_with_non_ascii_names_are_read_whole_past_24000_bytes(pg_stack, monkeypatch):
    """The agent keeps 24,000 BYTES of stdout for GetCommandInvocation: 400 tables named in German are
    23,890 characters but 25,090 bytes, and the cut list was taken as the whole (the last tables missing
    from the verification). The whole output is read from S3 then."""
    ctx, _ = pg_stack
    monkeypatch.setattr(dbmove, "tls_only_policy", lambda name: {"Version": "2012-10-17", "Statement": [
        {"Sid": "NoDeletesHere", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
         "Resource": f"arn:aws:s3:::{name}"}]})   # moto applies a conditional Deny unconditionally (above)
    many = "".join(f"FP|größe_übersicht_{i:03d}|{i}|{i:032x}\n" for i in range(400))
    assert len(many) < 24_000 < len(many.encode())

    def answers(cmd):
        status, out, err = moved_answers(cmd)
        return status, out.replace(FINGERPRINTS_OF_THE_HELPER, many), err
    _agent(ctx, [], answers)
    result = dbmove.move(ctx)
    assert len(result.verification) == 400 and result.verification.match.all()


def test_a_dump_that_outlasts_its_cell_is_restored_from_where_it_was_uploaded(pg_stack, monkeypatch):
    """A large dump: the cell's time ends while it runs, and the rerun rightly waits for that command. The
    restore then fetched a key named at the rerun's own time, which nothing was uploaded to."""


    from workbook import dbmove_hosts as hosts
    from workbook import progress
    ctx, _ = pg_stack
    sent: list[dict] = []
    _agent(ctx, sent, moved_answers)
    keys = iter(f"dumps/2026112{i}T000000Z/app.dump" for i in range(9))   # time passes between the runs
    monkeypatch.setattr(dbmove, "_key", lambda engine_name: next(keys))
    give_time_back = cell_ends_during(monkeypatch, "freeze, fingerprint and dump")
    with pytest.raises(progress.StillWaiting):
        dbmove.move(ctx)
    dump = next(c for c in sent if "freeze, fingerprint and dump" in c["Comment"])

    def still_running(parsed, **_):   # AWS still runs it when the rerun looks
        for c in parsed.get("Commands", []):
            if c["CommandId"] == dump["CommandId"]:
                c["Status"] = "InProgress"
    ctx.client("ssm").meta.events.register("after-call.ssm.ListCommands", still_running)
    give_time_back()
    result = dbmove.move(ctx)
    assert [c for c in sent if "freeze, fingerprint and dump" in c["Comment"]] == [dump]   # waited for, not sent again
    uploaded = "s3://demo-dbmove-123456789012/dumps/20261120T000000Z/app.dump"
    assert uploaded in "\n".join(dump["Parameters"]["commands"])
    restore = next(c for c in sent if "restore into RDS" in c["Comment"])
    assert uploaded in "\n".join(restore["Parameters"]["commands"])
    assert result.key == "dumps/20261120T000000Z/app.dump" and dbmove.moved(ctx)["workbook:moved-dump"] == result.key


LIFT = "lift the dev database's write freeze"


def _lifted(sent: list[dict]) -> bool:
    return any(LIFT in c["Comment"] for c in sent)


@pytest.mark.parametrize("failing, error", [
    ("restore into RDS", "pg_restore: error: could not execute query: ERROR: out of shared memory"),
    ("freeze, fingerprint and dump", "upload failed: An error occurred (AccessDenied) when calling the PutObject operation"),
])
def test_a_move_that_fails_after_the_freeze_lifts_it_and_says_so(pg_stack, failing, error, capsys):
    """The 08 notebook says a failed move leaves the dev database unchanged. After the freeze nothing lifted
    it when the dump's upload or the restore failed: the dev app stayed read-only until someone noticed.
    Nothing was restored, so the freeze is lifted (and the error says so) and the profile goes as before."""


    from workbook import dbmove_hosts as hosts
    ctx, stack = pg_stack
    sent: list[dict] = []
    _agent(ctx, sent, lambda cmd: ("Failed", "", error) if failing in cmd["Comment"] else moved_answers(cmd))
    with pytest.raises(dbmove.CommandFailed, match="Failed on i-") as err:
        dbmove.move(ctx)
    assert _lifted(sent), [c["Comment"] for c in sent]
    assert [c["InstanceIds"] for c in sent if LIFT in c["Comment"]] == [[stack["dev"]]]
    assert "write freeze was lifted" in "\n".join(getattr(err.value, "__notes__", []))
    assert "write freeze was lifted" in capsys.readouterr().out
    assert hosts.profile_of(ctx, stack["dev"]) is None
    if "dump" in failing:
        assert not any("restore into RDS" in c["Comment"] for c in sent)


def test_a_restore_that_committed_before_its_command_failed_keeps_the_freeze(pg_stack):
    """The restore and its ledger entry committed, then a later part of the command failed (the app user's
    grant): the data is in RDS, so lifting the freeze would let dev take writes production never gets."""
    ctx, _ = pg_stack
    sent: list[dict] = []
    probes = []

    def answers(cmd):
        if "read the move ledger" in cmd["Comment"]:
            probes.append(cmd["CommandId"])
            if len(set(probes)) > 1:   # asked again after the failure: the restore had committed
                return "Success", "LEDGER|moved|2026-11-27 10:00:00+00|i-dev postgres app|dumps/x/app.dump\n", ""
        if "restore into RDS" in cmd["Comment"]:
            return "Failed", "", "ERROR: permission denied to grant privileges"
        return moved_answers(cmd)
    _agent(ctx, sent, answers)
    with pytest.raises(dbmove.CommandFailed) as err:
        dbmove.move(ctx)
    assert not _lifted(sent)
    assert "stays read-only" in "\n".join(getattr(err.value, "__notes__", []))


def test_a_dev_host_that_cannot_upload_the_dump_stops_the_move_before_the_freeze(pg_stack):
    """A dev host whose role may not write the dump bucket (or has no AWS CLI, or no room for the dump):
    the move froze the dev database first and failed at the upload, so the dev app was read-only for the
    whole dump. What can fail is tried before the freeze: the move stops and the dev database was never
    frozen."""
    ctx, stack = pg_stack
    sent: list[dict] = []
    denied = ("", "upload failed: An error occurred (AccessDenied) when calling the PutObject operation: User: "
                  "arn:aws:sts::123456789012:assumed-role/their-role/i-dev is not authorized to perform: s3:PutObject")

    def answers(cmd):   # the dev host: any upload to S3 is refused
        script = "\n".join(cmd["Parameters"]["commands"])
        if cmd["InstanceIds"] == [stack["dev"]] and " s3 cp " in script and "--sse" in script:
            return ("Failed", *denied)
        return moved_answers(cmd)
    _agent(ctx, sent, answers)
    with pytest.raises(dbmove.NotReady, match="nothing was frozen.*s3:PutObject"):
        dbmove.move(ctx)
    on_dev = "\n".join(line for c in sent if c["InstanceIds"] == [stack["dev"]] for line in c["Parameters"]["commands"])
    assert "default_transaction_read_only = on" not in on_dev and not _lifted(sent)

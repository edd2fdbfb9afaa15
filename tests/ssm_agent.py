"""Test helper: what the SSM agents of a real account answer, on in-process moto (no sandbox): every
instance registered and Online, each command recorded and its invocation answered by the test."""
from __future__ import annotations

from botocore.exceptions import ClientError

FINGERPRINTS = "FP|customers|3|abc\nFP|items|5|def\nFP|orders|2|0f\n"


def moved_answers(cmd: dict) -> tuple[str, str, str]:
    """What the instances print for a first move: nothing moved yet, then the dump and the restore."""
    comment = cmd.get("Comment", "")
    if "read the move ledger" in comment:
        return "Success", "", ""
    if "freeze, fingerprint and dump" in comment:
        return "Success", "FREEZE|new sessions read-only: on\n" + FINGERPRINTS + "DUMP|1234\n", ""
    if "restore into RDS" in comment:
        return "Success", "LEDGER|moved|2026-11-27 10:00:00+00|i-dev postgres app|dumps/x/app.dump\n" + FINGERPRINTS + \
            "RESTORED|1234\n", ""
    return "Success", "", ""


def _cut(text: str, most: int) -> str:
    """The first `most` bytes of the text's UTF-8, as the agent cuts it (a character cut in two is dropped)."""
    return text.encode()[:most].decode(errors="ignore")


def agent(ctx, sent, answers=moved_answers):
    """What the SSM agents answer: every instance is registered and Online; each command is recorded and
    its invocation answered by `answers(command) -> (status, stdout, stderr)`."""
    ssm = ctx.client("ssm")
    state = {}

    def register(model, params, **_):
        state["last"] = params

    def remember(parsed, **_):
        sent.append({**state["last"], "CommandId": parsed["Command"]["CommandId"]})

    def answer(parsed, **_):
        cmd = next((c for c in sent if c["CommandId"] == parsed.get("CommandId")), None)
        if cmd is not None:
            status, out, err = answers(cmd)
            # As AWS: the agent keeps at most 24,000 bytes of stdout (8,000 of stderr) for the answer; the whole
            # of both in S3 when the command named a bucket (written with the instance's role, taken as allowed here)
            parsed.update(Status=status, StandardOutputContent=_cut(out, 24_000), StandardErrorContent=_cut(err, 8_000),
                          ResponseCode=0 if status == "Success" else 1)
            if cmd.get("OutputS3BucketName"):
                iid = parsed.get("InstanceId") or cmd["InstanceIds"][0]
                base = f"{cmd.get('OutputS3KeyPrefix', '')}/{cmd['CommandId']}/{iid}/awsrunShellScript/0.awsrunShellScript"
                try:
                    for name, text in (("stdout", out), ("stderr", err)):
                        ctx.client("s3").put_object(Bucket=cmd["OutputS3BucketName"], Key=f"{base}/{name}",
                                                    Body=text.encode())
                except ClientError:
                    return   # the agent could not upload: the command's own status stands, no URL (as AWS)
                parsed.update(
                    StandardOutputUrl=f"https://s3.us-east-1.amazonaws.com/{cmd['OutputS3BucketName']}/{base}/stdout",
                    StandardErrorUrl=f"https://s3.us-east-1.amazonaws.com/{cmd['OutputS3BucketName']}/{base}/stderr")

    def information(**_):
        class Ok:
            status_code = 200
            headers: dict = {}
        ids = [v for f in state["info"].get("Filters", []) for v in f.get("Values", [])]
        return Ok(), {"InstanceInformationList": [{"InstanceId": i, "PingStatus": "Online",
                                                   "PlatformType": "Linux"} for i in ids]}
    ssm.meta.events.register("provide-client-params.ssm.SendCommand", register)
    ssm.meta.events.register("after-call.ssm.SendCommand", remember)
    ssm.meta.events.register("after-call.ssm.GetCommandInvocation", answer)
    ssm.meta.events.register("provide-client-params.ssm.DescribeInstanceInformation",
                             lambda params, **kw: state.update(info=dict(params)))
    ssm.meta.events.register("before-call.ssm.DescribeInstanceInformation", information)
    return ssm




def cell_ends_during(monkeypatch, phrase: str):
    """The cell's time runs out while the command whose wait names `phrase` runs (StillWaiting, the
    command goes on in AWS); the returned function gives the waits their time back."""
    from workbook import dbmove_hosts, progress
    wait_for = progress.wait_for

    def ends(client, waiter, what, **kw):
        if phrase in what:
            raise progress.StillWaiting(what, 540.0)
        return wait_for(client, waiter, what, **kw)
    monkeypatch.setattr(dbmove_hosts.progress, "wait_for", ends)
    return lambda: monkeypatch.setattr(dbmove_hosts.progress, "wait_for", wait_for)

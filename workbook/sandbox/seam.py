"""The one seam between the workbook and the sandbox.

`SandboxTarget` is what `connect(p)` uses when p.target is "sandbox". It plugs in below
`workbook.connect` (this package imports connect, never the other way round) and owns everything
that differs from a real account:

- the session: moto's test credentials, and the endpoint of the sandbox's moto server (or moto's
  in-process mock when there is no server, as the unit tests run it);
- the corrections of moto's gaps (`corrections.py`), installed on each new client as botocore event
  handlers. Handlers were chosen over a local HTTP proxy because they see requests and answers
  already parsed, one place per operation, for every protocol (query, JSON, REST-XML) alike, and
  cost nothing when unused; what the corrections do is said once per session, labelled sandbox-only;
- the gaps that cannot be corrected (moto never evaluates an alarm ...): checks ask `ctx.gap(name)` and
  report NOT_EMULATED with this text, never a PASS;
- the clock: the sandbox answers at once, so code that waits on AWS (retries, polls) barely sleeps;
- the rehearsal (`rehearsal.py`), when `sandbox start --rehearse` switched it on: AWS's timings,
  eventual consistency, refusals and throttling, and a clock that sleeps AWS time scaled;
- the local data plane (`dataplane.py`): the processes that stand in for instances, databases and
  the load balancer, behind the same interface as a real account's (`plane.py`, `workbook.dataplane`).

When moto fixes a gap, its entry here or in corrections.py goes, and nothing else changes.
"""
from __future__ import annotations

import time
from typing import Any

import boto3

from .. import boto_models
from ..connect import Clock, Context, Target
from ..params import Params
from . import rehearsal

ACCOUNT = "123456789012"   # moto's account

# What the sandbox cannot show, by name; a check that needs one reports NOT_EMULATED with this text.
GAPS = {
    "alarm_evaluation": "the sandbox never evaluates alarms (moto keeps each alarm in its first state)",
    "asg_instance_spread": "the sandbox places every group instance in the first subnet; instance spread is "
                           "not emulated",
    "asg_extra_root_volume": "the sandbox gives group instances an unencrypted default root volume besides "
                             "the template's encrypted one",
    "rds_standby_az": "the sandbox reports no SecondaryAvailabilityZone",
    "secret_rotation": "not modelled by the sandbox (RDS rotates its managed secret every 7 days)",
    "sns_email_confirmation": "in the sandbox an e-mail subscription is confirmed at once and no mail is sent",
    "dns_resolution": "in the sandbox nothing resolves the zone (no delegation is needed)",
    "dns_cache": "no resolver caches DNS answers in the sandbox, so the replaced record's TTL is not waited "
                 "for (on AWS clients may be sent to the old address that long)",
    # What the IAM drill (iam_drill.py), which answers IAM policy simulation in the sandbox, cannot show.
    "iam_drill_principal": "the sandbox's IAM drill tries a group's policies with a member's keys; a role or a "
                           "user is not drilled",
    "iam_drill_resources": "moto evaluates every request against Resource \"*\" only, so a statement on one ARN "
                           "could change this decision on AWS and never applies in the sandbox's IAM drill",
    "iam_drill_conditions": "moto counts a condition as met when the request lacks its keys (resource tags), so "
                            "a conditional statement could change this decision on AWS",
    "iam_drill_cloudwatch": "moto names CloudWatch actions after the signing name (monitoring:*), not "
                            "cloudwatch:*",
    "iam_drill_db_auth": "moto has no IAM database authentication (rds-db:connect)",
    "iam_drill_no_call": "the sandbox's IAM drill has no call that exercises this action",
    "iam_drill_controls": "the IAM drill's controls failed (enforcement was not on in its server), so nothing it "
                          "saw counts",
}


class SandboxClock(Clock):
    """moto answers at once: waits between retries and polls are a short pause, not AWS's. Not a fixed
    one: the data plane's processes do real work (a restore, a boot), so a wait AWS bounds at an hour
    (720 looks 5 s apart) still lasts over a minute here (1/50 of AWS's pause, at most half a second)."""
    scale = 0.0
    SHARE, LONGEST = 1 / 50, 0.5

    def sleep(self, aws_seconds: float) -> None:
        if aws_seconds > 0:
            time.sleep(min(aws_seconds * self.SHARE, self.LONGEST))

    def now(self) -> float:
        return time.monotonic()


class SandboxTarget(Target):
    name = "sandbox"
    gaps = GAPS

    def __init__(self, endpoint: str | None = None, rehearse: rehearsal.Settings | None = None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self._iam_drills: Any = None
        # Rehearsing: AWS's behaviour modelled on the clients, waits slept in scaled AWS time, and the
        # gaps the model shows are gaps no more.
        self.rehearsal = rehearsal.Rehearsal(rehearse) if rehearse is not None and rehearse.on else None
        self.clock = self.rehearsal.clock if self.rehearsal else SandboxClock()
        if self.rehearsal:
            self.gaps = {k: v for k, v in GAPS.items() if k not in rehearsal.MODELLED_GAPS}

    @classmethod
    def for_params(cls, p: Params) -> "SandboxTarget":
        """The sandbox's moto server, started when it is not running; rehearsing if it was started so."""
        from . import server
        endpoint = server.ensure_running()
        return cls(endpoint, rehearsal.load())

    def session(self, p: Params) -> boto3.Session:
        return boto_models.session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=p.region)

    def install(self, client: Any, ctx: Context) -> None:
        from . import corrections
        corrections.install(client, ctx)
        if self.rehearsal:
            rehearsal.install(client, ctx, self.rehearsal)

    def account(self, ctx: Context) -> str:
        return ACCOUNT

    def where(self, ctx: Context) -> str:
        where = f"sandbox at {self.endpoint}" if self.endpoint else "sandbox (in-process moto)"
        if self.rehearsal:
            where += f", rehearsing AWS (1 AWS minute = {60 / self.rehearsal.settings.time_scale:g} s)"
        return where

    @property
    def iam_drills(self) -> Any:
        """The IAM drills that answer policy simulation in this session (corrections.py asks them)."""
        if self._iam_drills is None:
            from .iam_drill import Drills
            self._iam_drills = Drills()
        return self._iam_drills

    def rehearsal_figures(self) -> dict[str, Any] | None:
        return rehearsal.figures(self.rehearsal.settings.folder()) if self.rehearsal else None

    def drill_log(self) -> Any:
        """The calls the IAM drills made, controls first (None before any drill ran)."""
        return self._iam_drills.log() if self._iam_drills is not None else None

    @property
    def dataplane(self) -> Any:
        """The data-plane interface answered by the local stand-ins (plane.py)."""
        from .plane import SandboxDataPlane
        return SandboxDataPlane()

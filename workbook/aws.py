"""The real account as a target: AWS answers the calls and serves (workbook.dataplane.AwsDataPlane).

Registered the way the sandbox registers itself (connect.target_for loads `workbook.<target>`), so that
connect, below every target, names neither and imports nothing above it.
"""
from __future__ import annotations

from typing import Any

from .connect import Target, register_target


class AwsTarget(Target):
    name = "aws"

    @property
    def dataplane(self) -> Any:
        from .dataplane import AwsDataPlane
        return AwsDataPlane()


register_target("aws", lambda p: AwsTarget())

"""workbook/alarms.py: thresholds that fire before the limit they guard."""
from __future__ import annotations

from workbook.alarms import alarm_specs
from workbook.params import Params

GIB = 1024 ** 3
# RDS's default max_connections (RDS user guide, "Maximum number of database connections"), computed on the
# class's whole memory: the real DBInstanceClassMemory is smaller, so the real limit is lower still.
LIMIT = {"mysql": lambda mem: mem // 12582880, "postgres": lambda mem: min(mem // 9531392, 5000)}


def threshold(p: Params) -> float:
    return next(s for s in alarm_specs(p) if s.what == "db-connections").threshold


def test_the_connections_alarm_fires_well_before_the_databases_limit_for_its_class_and_engine():
    """A fixed 80 was at 94 % of a MySQL db.t4g.micro's limit (85): the alarm could fire only when
    "Too many connections" was already near. Each engine and class gets a threshold well below its own."""
    for engine, version in (("mysql", "8.0.39"), ("postgres", "16.4")):
        for cls, mem in (("db.t4g.micro", 1), ("db.t4g.small", 2), ("db.m6g.large", 8), ("db.r6g.large", 16)):
            p = Params.from_mapping({"db_engine": engine, "db_engine_version": version, "dev_db_engine": engine,
                                     "db_instance_class": cls})
            limit = LIMIT[engine](mem * GIB)
            assert 0.5 * limit <= threshold(p) <= 0.8 * limit, (engine, cls, threshold(p), limit)

"""A sweep of hostile and awkward parameter values through the three ways in: `--set name=value`, a YAML
file (`--params`), and papermill directly (`papermill nb out -p name value`). Each case says what should
happen (accepted as a given value, or refused naming the parameter); the sweep counts:

  refused cleanly    refused, the message names the parameter, one short message, no traceback
  accepted rightly   accepted, and the value the workbook uses is the one expected
  accepted wrongly   accepted although it should be refused, or with another value
  refused wrongly    refused although it should be accepted, or refused without a clean message

The CLI ways run what `python -m workbook run` runs before its first notebook (validation, then the
boundary check that reads the region's AZs); the papermill way runs a notebook that calls `nb.start`,
as every workbook notebook does, against a private sandbox. Usage: .venv/bin/python tests/bench/sweep_inputs.py
[--quick] (quick: the CLI ways only). Prints the counts and every case that went wrong; exits 1 on any.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
R = "REFUSE"
BIG = "x" * 100_000
AR3 = "\u0663"   # ARABIC-INDIC DIGIT THREE

# (label, {name: text as typed}, expected: R, or {name: value used}; per-way overrides in a 4th item)
CASES: list[tuple] = [
    ("default stack", {"stack_name": "shop"}, {"stack_name": "shop"}),
    ("upper-case stack", {"stack_name": "Shop"}, R),
    ("100 kB stack", {"stack_name": BIG}, R),
    ("stack with $(...)", {"stack_name": "$(touch /tmp/PWNED)"}, R),
    ("stack yes", {"stack_name": "yes"}, {"stack_name": "yes"}),
    ("stack 1e5", {"stack_name": "1e5"}, R),
    ("stack True", {"stack_name": "True"}, R),
    ("stack double hyphen", {"stack_name": "de--mo"}, R),
    ("stack unicode", {"stack_name": "d\u00e9mo"}, R),
    ("region upper", {"region": "EU-WEST-1"}, {"region": "eu-west-1"}),
    ("region unknown", {"region": "us-east-7"}, R),
    ("region with ;", {"region": "eu-west-1;ls"}, R),
    ("az_count 3.0", {"az_count": "3.0"}, {"az_count": 3}),
    ("az_count 2.5", {"az_count": "2.5"}, R),
    ("az_count arabic 3", {"az_count": AR3}, R, {"pm": {"az_count": 3}}),   # papermill's int() reads it first
    ("az_count 7", {"az_count": "7"}, R),
    ("az_count above region", {"region": "eu-west-1", "az_count": "4"}, R),
    ("az_count = region's", {"region": "eu-west-1", "az_count": "3"}, {"az_count": 3}),
    ("account as number", {"aws_account_id": "123456789012"}, {"aws_account_id": "123456789012"}),
    # papermill makes numbers of these and a number drops leading zeros: refused there, with `-r` to use
    ("account leading zero", {"aws_account_id": "012345678901"}, {"aws_account_id": "012345678901"}, {"pm": R}),
    ("account octal-looking", {"aws_account_id": "012345670123"}, {"aws_account_id": "012345670123"}, {"pm": R}),
    ("account short", {"aws_account_id": "12345"}, R),
    ("account arabic digits", {"aws_account_id": "1234567890" + AR3 * 2}, R,
     {"pm": {"aws_account_id": "123456789033"}}),   # papermill's int() reads it first
    ("engine 16.4", {"db_engine_version": "16.4"}, {"db_engine_version": "16.4"}),
    ("engine 16.10", {"db_engine_version": "16.10"}, {"db_engine_version": "16.10"}, {"pm": R}),  # a float: 16.1
    ("engine 16", {"db_engine_version": "16"}, {"db_engine_version": "16"}),
    ("engine latest", {"db_engine_version": "latest"}, R),
    ("engine with ;", {"db_engine_version": "16.4; DROP TABLE x"}, R),
    ("engine arabic", {"db_engine_version": f"16.{AR3}"}, R, {"pm": {"db_engine_version": "16.3"}}),  # float() reads it
    ("mysql 8.0.39", {"db_engine": "mysql", "dev_db_engine": "mysql", "db_engine_version": "8.0.39"}, {"db_engine_version": "8.0.39"}),
    ("mysql given 16.4", {"db_engine": "mysql", "db_engine_version": "16.4"}, R),
    ("instance t3.micro", {"instance_type": "t3.micro"}, {"instance_type": "t3.micro"}),
    ("instance upper", {"instance_type": "T3.Micro"}, {"instance_type": "t3.micro"}),
    ("instance arabic digit", {"instance_type": f"t{AR3}.micro"}, R),
    ("instance typo", {"instance_type": "t3.mirco"}, R),
    ("instance flex", {"instance_type": "m7i-flex.large"}, {"instance_type": "m7i-flex.large"}),
    ("instance metal-48xl", {"instance_type": "c7a.metal-48xl"}, {"instance_type": "c7a.metal-48xl"}),
    ("instance 100 kB", {"instance_type": BIG}, R),
    ("db class m5.large", {"db_instance_class": "m5.large"}, R),
    ("db class r7g", {"db_instance_class": "db.r7g.2xlarge"}, {"db_instance_class": "db.r7g.2xlarge"}),
    ("db class arabic", {"db_instance_class": f"db.t{AR3}.micro"}, R),
    ("health newline heredoc", {"health_check_path": "/h\nENV\ntouch\t/tmp/x"}, R),
    ("health 100 kB", {"health_check_path": "/" + BIG}, R),
    ("health query", {"health_check_path": "/api/health?full=1&db=yes"},
     {"health_check_path": "/api/health?full=1&db=yes"}),
    ("health backticks", {"health_check_path": "/`id`"}, R),
    ("health 1024", {"health_check_path": "/" + "a" * 1023}, {"health_check_path": "/" + "a" * 1023}),
    ("health unicode", {"health_check_path": "/h\u00e9alth"}, R),
    ("domain upper + dot", {"domain_name": "API.Example.com."}, {"domain_name": "api.example.com"}),
    ("domain underscore", {"domain_name": "api.exa_mple.com"}, R),
    ("domain cyrillic", {"domain_name": "api.ex\u0430mple.com"}, R),
    ("domain 300 chars", {"domain_name": ("a" * 60 + ".") * 5 + "com"}, R),
    ("email plus", {"alarm_email": "ops+alerts@example.co.uk"}, {"alarm_email": "ops+alerts@example.co.uk"}),
    ("email header injection", {"alarm_email": "ops@example.com\nBcc: x@evil.test"}, R),
    ("email long local", {"alarm_email": "a" * 65 + "@example.com"}, R),
    ("dev_tag aws: prefix", {"dev_tag": "aws:cloudformation:stack-name=dev"},
     {"dev_tag": "aws:cloudformation:stack-name=dev"}),
    ("dev_tag shell chars", {"dev_tag": "Name=dev;rm -rf /"}, {"dev_tag": "Name=dev;rm -rf /"}),
    ("dev_tag long value", {"dev_tag": "Name=" + "v" * 257}, R),
    ("dev_tag no =", {"dev_tag": "dev-backend"}, R),
    ("zone id too long", {"hosted_zone_id": "Z" * 33, "domain_name": "api.example.com"}, R),
    ("instance id", {"dev_instance_id": "i-0123456789abcdef0"}, {"dev_instance_id": "i-0123456789abcdef0"}),
    ("instance id short", {"dev_instance_id": "i-xyz"}, R),
    ("cidr /8", {"vpc_cidr": "10.0.0.0/8"}, R),
    ("cidr arabic", {"vpc_cidr": f"10.20.0.0/1{AR3}"}, R),
    ("multi_az on", {"multi_az": "on"}, {"multi_az": True}),
    ("multi_az 0", {"multi_az": "0"}, {"multi_az": False}),
    ("multi_az maybe", {"multi_az": "maybe"}, R),
    ("desired above max", {"desired_capacity": "5", "max_capacity": "3"}, R),
    ("retention 10", {"log_retention_days": "10"}, R),
    ("sample rows 1_000", {"sample_rows": "1_000"}, {"sample_rows": 1000}),
    ("probe rate 1e3", {"probe_rate": "1e3"}, R, {"pm": R}),
    ("demo_dev_host no", {"demo_dev_host": "no", "dev_instance_id": "i-0123456789abcdef0"},
     {"demo_dev_host": "no"}),
    ("fault unknown", {"fault": "meteor"}, R),
    ("misspelt name", {"stak_name": "x"}, R),
    ("profile with space", {"aws_profile": "dev profile"}, {"aws_profile": "dev profile"}),
    ("profile 100 kB", {"aws_profile": BIG}, R),
]


def expected_for(case: tuple, way: str):
    extra = case[3] if len(case) > 3 else {}
    return extra.get(way, case[2])


def judge(expect, accepted: dict | None, message: str, names: list[str], clean: bool) -> str:
    if expect == R:
        if accepted is not None:
            return "accepted wrongly"
        ok = clean and any(n in message for n in names) and len(message) < 3_000
        return "refused cleanly" if ok else "refused wrongly"
    if accepted is None:
        return "refused wrongly"
    return "accepted rightly" if all(accepted.get(k) == v for k, v in expect.items()) else "accepted wrongly"


# ---- the CLI ways ---------------------------------------------------------------------------------------------
def via_cli(values: dict[str, str], yaml_file: Path | None, connect: bool) -> tuple[dict | None, str, bool]:
    from workbook import pipeline
    from workbook.__main__ import main
    from workbook.params import ParameterError
    args = ["params"] + (["--params", str(yaml_file)] if yaml_file else [f"--set={k}={v}" for k, v in values.items()])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    if code != 0:
        return None, err.getvalue(), code == 2 and "Traceback" not in err.getvalue()
    params = json.loads(out.getvalue())
    if connect:   # what `run` does before its first notebook: the boundary check reads the AZs
        from workbook.params import Params
        try:
            pipeline.preflight(Params.from_mapping(params))
        except ParameterError as e:
            return None, f"error: {e}", True
    return params, "", True


def yaml_text(values: dict[str, str]) -> str:
    """The values as a person types them in a YAML file: plain scalars where YAML takes them so."""
    lines = []
    for k, v in values.items():
        plain = v and "\n" not in v and not v.startswith((" ", "`", "$", "/h\n")) and ":" not in v and "#" not in v \
            and not v.startswith(("[", "{", "&", "*", "!", "|", ">", "'", '"', "%", "@", "-"))
        lines.append(f"{k}: {v}" if plain else f"{k}: {json.dumps(v)}")
    return "\n".join(lines) + "\n"


# ---- papermill ------------------------------------------------------------------------------------------------
NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": "stack_name = 'demo'\ninteractive = True"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "import json\nfrom workbook import nb\np, ctx = nb.start(globals(), 'sweep')\n"
                   "print('PARAMS', json.dumps(p.to_dict()))"},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def via_papermill(values: dict[str, str], work: Path, env: dict[str, str]) -> tuple[dict | None, str, bool]:
    import nbformat
    work.mkdir(parents=True, exist_ok=True)
    src, out = work / "sweep.ipynb", work / "out.ipynb"
    src.write_text(json.dumps(NOTEBOOK))
    args = [str(Path(sys.executable).with_name("papermill")), str(src), str(out), "--cwd", str(ROOT),
            "-p", "interactive", "False"]
    for k, v in values.items():
        args += ["-p", k, v]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    if not out.exists():
        return None, done.stderr[-3000:], False
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if errors:
        e = errors[0]
        shown = "\n".join(e.get("traceback", []))
        clean = e.get("ename") == "ParameterError" and "File " not in shown and done.returncode != 0
        return None, e.get("evalue", ""), clean
    text = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    return json.loads(text.split("PARAMS ", 1)[1].splitlines()[0]), "", True


def main() -> int:
    quick = "--quick" in sys.argv
    work = Path(tempfile.mkdtemp(prefix="sweep-"))
    os.environ["WORKBOOK_STATE_DIR"] = str(work / "state")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    from workbook.sandbox import server
    server.start()
    counts: dict[str, dict[str, int]] = {}
    wrong: list[str] = []
    try:
        def record(way: str, case: tuple, verdict: str, message: str) -> None:
            counts.setdefault(way, {}).setdefault(verdict, 0)
            counts[way][verdict] += 1
            if verdict.endswith("wrongly"):
                wrong.append(f"{way:9} {case[0]}: {verdict} {message[:200]!r}")

        for case in CASES:
            label, values = case[0], case[1]
            acc, msg, clean = via_cli(values, None, True)
            record("--set", case, judge(expected_for(case, "set"), acc, msg, list(values), clean), msg)
            f = work / "p.yaml"
            f.write_text(yaml_text(values))
            acc, msg, clean = via_cli(values, f, True)
            record("yaml", case, judge(expected_for(case, "yaml"), acc, msg, list(values), clean), msg)
        if not quick:
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}

            def one(i_case):
                i, case = i_case
                return case, via_papermill(case[1], work / f"pm{i}", env)
            with ThreadPoolExecutor(max_workers=2) as pool:
                for case, (acc, msg, clean) in pool.map(one, enumerate(CASES)):
                    record("papermill", case, judge(expected_for(case, "pm"), acc, msg, list(case[1]), clean), msg)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(CASES)} cases through {len(counts)} ways in")
    for way, c in counts.items():
        print(f"  {way:10} " + ", ".join(f"{k}: {c.get(k, 0)}" for k in (
            "refused cleanly", "accepted rightly", "accepted wrongly", "refused wrongly")))
    for line in wrong:
        print("  WRONG " + line)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())

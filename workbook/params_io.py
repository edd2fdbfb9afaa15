"""How parameter values come in (a YAML file, `--set name=value`, papermill's `-p`, the workshop form) and
how a refusal reads. `params.py` holds what is valid; this module turns what each way in gives into
typed values, and refuses what is really wrong with a message a person can read.

- A YAML file is read with a loader that keeps each scalar's own text beside YAML's reading of it, so a
  text parameter gets what the file says: `db_engine_version: 16.10` stays "16.10" (a float would be
  16.1), `aws_account_id: 012345670123` keeps its digits (YAML 1.1 reads it as octal), `stack_name: yes`
  stays "yes". Duplicate keys and non-text keys are refused, naming the file.
- papermill's `-p` makes numbers of what looks like one; a number is accepted where its meaning is
  unambiguous (an account id, an engine version such as 16.4) and refused where it is not (16.1 could
  have been 16.10: the message says how to pass it as text).
- Values are quoted in messages cut to a readable length: a 5 MB value is not echoed back.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

SHOWN = 60


def shown(value: Any, limit: int = SHOWN) -> str:
    """A value as a message quotes it: its repr, cut to `limit` characters, with its length when cut."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 130:
        return f"a number of about {int(value.bit_length() * 0.30103):,} digits"
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return text[: limit - 1] + "…" + size


class ParameterError(ValueError):
    """Raised before any AWS call; `problems` maps each bad parameter to what would be valid.

    In IPython (JupyterLab, papermill's kernel) it shows as its message only: a refusal is one clear
    sentence per parameter, not a traceback through the workbook's code (`%tb` still shows one)."""

    def __init__(self, problems: dict[str, str]):
        self.problems = {_name(k): v for k, v in problems.items()}
        lines = [f"  {name}: {msg}" for name, msg in self.problems.items()]
        super().__init__("invalid parameters:\n" + "\n".join(lines))

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def _name(key: Any) -> str:
    text = key if isinstance(key, str) else repr(key)
    return text if len(text) <= SHOWN else shown(text)


# ---- YAML: each scalar's own text kept --------------------------------------------------------------------
class RawInt(int):
    text: str


class RawFloat(float):
    text: str


class RawBool(int):
    """A YAML 1.1 boolean (yes/no/on/off/true/false) with its text; bool itself cannot be subclassed."""
    text: str


class _Loader(yaml.SafeLoader):
    pass


def _raw(cls: type, construct: Any) -> Any:
    def make(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        value = cls(construct(loader, node))
        value.text = node.value
        return value
    return make


_Loader.add_constructor("tag:yaml.org,2002:int", _raw(RawInt, yaml.SafeLoader.construct_yaml_int))
_Loader.add_constructor("tag:yaml.org,2002:float", _raw(RawFloat, yaml.SafeLoader.construct_yaml_float))
_Loader.add_constructor("tag:yaml.org,2002:bool", _raw(RawBool, yaml.SafeLoader.construct_yaml_bool))
# Dates stay text (papermill's loader does the same): no parameter is a date.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def load_yaml(path: str | Path, label: str = "params_file") -> dict[str, Any]:
    """A parameters file as a mapping of name -> value; a file that is not one is refused, naming it."""
    path = Path(path)
    where = f"{path}"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ParameterError({label: f"cannot read {where}: {type(e).__name__}: {shown(str(e), 200)}"}) from None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ParameterError({label: f"{where} is not valid YAML: {_yaml_problem(e)}"}) from None
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        kind = {"ScalarNode": "a single value", "SequenceNode": "a list"}.get(type(node).__name__, "not a mapping")
        raise ParameterError({label: f"{where} holds {kind}; it must be a mapping of parameter: value, one a "
                                     f"line, e.g. stack_name: shop"})
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        line = key_node.start_mark.line + 1
        if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:str"):
            raise ParameterError({label: f"{where} line {line}: {shown(_node_text(key_node))} is not a parameter "
                                         f"name (names are text such as stack_name)"})
        if key_node.value in seen:
            raise ParameterError({label: f"{where} names {shown(key_node.value)} twice (lines {seen[key_node.value]} "
                                         f"and {line}); say it once"})
        seen[key_node.value] = line
    try:
        data = _Loader(text).get_single_data()
    except yaml.YAMLError as e:   # e.g. an unhashable value construct
        raise ParameterError({label: f"{where} is not valid YAML: {_yaml_problem(e)}"}) from None
    return dict(data)


def _node_text(node: yaml.Node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else f"a {type(node).__name__.replace('Node', '').lower()}"


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{shown(problem, 120).strip(chr(39))}{at}"


# ---- one value to its parameter's type ------------------------------------------------------------------------
_INT_TEXT = re.compile(r"[+-]?[0-9][0-9_]*(?:\.0*)?", re.ASCII)
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def coerce(name: str, value: Any, hint: Any) -> Any:
    """What YAML, papermill, the CLI or a form gives, as the parameter's type; TypeError/ValueError with a
    readable message for what cannot be meant as one."""
    origin = getattr(hint, "__origin__", None)
    if origin is Literal and isinstance(value, (bool, RawBool)) and {"yes", "no"} <= set(get_args(hint)):
        return "yes" if value else "no"   # YAML 1.1 reads an unquoted yes / no as a boolean
    if origin is Literal or hint is str:
        return _text(name, value)
    if hint is bool:
        if isinstance(value, (bool, RawBool)):
            return bool(value)
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise TypeError(f"expected true or false, got {shown(value)}")
    if hint is int:
        if isinstance(value, (bool, RawBool)):
            raise TypeError(f"expected a whole number, got {shown(value)}")
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
            return int(value.strip().replace("_", "").split(".")[0])
        raise TypeError(f"expected a whole number, got {shown(value)}")
    return value


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (RawInt, RawFloat, RawBool)):
        return value.text.strip()           # what the YAML file says, not YAML 1.1's reading of it
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected text, got {shown(value)}")
    # a number from papermill's -p (or a YAML loader that made one): its text, when unambiguous
    if name == "aws_account_id" and isinstance(value, int) and 0 <= value < 10 ** 11:
        # 12 digits make an account id; a shorter number lost leading zeros, or digits: not guessed
        raise ValueError(f"{value} arrived as a number of {len(str(value))} digits; an account id has 12 and a "
                         f"number drops leading zeros: pass it as text (papermill: -r aws_account_id "
                         f"{value:012d} if that is the id)")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise TypeError(f"expected text, got {shown(value)}")
    text = repr(value)
    if name == "db_engine_version":
        major, _, minor = text.partition(".")
        if len(minor) == 1 and minor in "12":
            raise ValueError(
                f"{text} arrived as a number, which cannot tell {text} from {major}.{minor}0 (both are minor "
                f"versions an engine has had); quote it ('{text}' in YAML) or pass it as text "
                f"(papermill: -r db_engine_version {text})")
    return text

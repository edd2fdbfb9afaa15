"""NOT_EMULATED comes from one helper that asks the inventory's context, never from the target's name."""
from __future__ import annotations

import ast
from pathlib import Path

from fake_inventory import FakeInventory
from workbook.checks import Finding, not_emulated
from workbook.sandbox.seam import GAPS

CHECKS = Path(__file__).resolve().parents[2] / "workbook" / "checks"


def test_the_sandbox_names_its_gap_and_a_real_account_evaluates():
    assert not_emulated(FakeInventory(), "alarm_evaluation", "demo-alarm") == Finding(
        "demo-alarm", "NOT_EMULATED", GAPS["alarm_evaluation"])
    detailed = not_emulated(FakeInventory(), "asg_extra_root_volume", "vol-1", "8 GiB, not encrypted")
    assert detailed.detail == f"8 GiB, not encrypted ({GAPS['asg_extra_root_volume']})"
    assert not_emulated(FakeInventory("aws"), "alarm_evaluation", "demo-alarm") is None


def _gap_names(tree: ast.AST) -> list[str]:
    """The literal gap names passed to not_emulated(inv, name, ...) or ctx.gap(name)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        arg = node.args[1] if name == "not_emulated" and len(node.args) > 1 else \
            node.args[0] if name == "gap" and node.args else None
        if arg is not None:
            assert isinstance(arg, ast.Constant), f"a gap is named by a literal: {ast.unparse(node)}"
            found.append(arg.value)
    return found


def test_every_gap_a_check_asks_for_is_one_the_sandbox_names():
    # __init__.py holds the helper itself, which passes its argument on.
    used = {n for path in CHECKS.glob("*.py") if path.name != "__init__.py"
            for n in _gap_names(ast.parse(path.read_text()))}
    assert used, "no check asks for a gap"
    assert used <= set(GAPS), f"unknown gap names: {sorted(used - set(GAPS))}"


def _asks_for_the_target(node: ast.AST) -> bool:
    """p.target / ctx.target / ... == "sandbox", ctx.sandbox, ctx.workaround(...), a _sandbox() helper."""
    if isinstance(node, ast.Compare):
        return any(isinstance(c, ast.Constant) and c.value in ("sandbox", "aws") for c in [node.left, *node.comparators])
    if isinstance(node, ast.Attribute):
        if node.attr in ("sandbox", "workaround"):
            return True
        owner = node.value.id if isinstance(node.value, ast.Name) else \
            node.value.attr if isinstance(node.value, ast.Attribute) else ""
        return node.attr == "target" and owner in ("p", "params", "ctx")
    return isinstance(node, (ast.Name, ast.FunctionDef)) and getattr(node, "id", getattr(node, "name", "")) == "_sandbox"


def test_no_check_or_inventory_module_asks_which_target_it_runs_on():
    for path in [*CHECKS.glob("*.py"), *CHECKS.parent.joinpath("inventory").glob("*.py")]:
        hits = [ast.unparse(n) for n in ast.walk(ast.parse(path.read_text())) if _asks_for_the_target(n)]
        assert not hits, f"{path.name}: {hits}"

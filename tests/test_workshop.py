"""The workshop's material, without a browser: what the notebooks say and what they point to."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_nothing_a_reader_sees_cites_a_file_outside_the_repository():
    """Cost notes quoted prices.yaml's sources, which named AWS-FACTS.md: a file no reader has."""
    shown = [ROOT / "README.md", ROOT / "workbook" / "prices.yaml", *sorted((ROOT / "notebooks").glob("*.ipynb")),
             *sorted((ROOT / "workbook").glob("*.py")), *sorted((ROOT / "workbook" / "steps").glob("*.py")),
             *sorted((ROOT / "workbook" / "checks").glob("*.py"))]
    citing = [str(p.relative_to(ROOT)) for p in shown if "AWS-FACTS" in p.read_text()]
    assert citing == []

"""Tiny step notebooks for the pipeline and report tests."""
from __future__ import annotations

from pathlib import Path

import nbformat


def write_notebook(path: Path, *cells: str) -> Path:
    """A tiny step notebook: a title, a parameters cell, then the given code cells."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('stack_name = "demo"\ntarget = "sandbox"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path

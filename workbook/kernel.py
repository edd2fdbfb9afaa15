"""The IPython shell this code runs in, if any: notebooks get hooks and display formatters, a script or a
test gets None (and nothing is installed)."""
from __future__ import annotations

from typing import Any


def shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:   # pragma: no cover - IPython comes with requirements.txt
        return None
    return get_ipython()

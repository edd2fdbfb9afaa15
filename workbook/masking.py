"""Account ids masked in every written output, as `connect.mask_account` shows one (last four digits).

One place for what a written file may not show: `text(s)` masks every 12-digit number standing
alone (an account id, also inside ARNs and bucket names); embedded images are left as they are.
`notebook_json(buf)` masks a notebook's JSON as written (every string but image data), `file(path)`
a written file by its kind, `folder(path)` every file under a folder. The pipeline masks each
executed notebook as papermill writes it, and the run folder after each notebook; the report and
`report.artifact` mask what they write.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .connect import mask_account

# 12 digits standing alone (ARNs, bucket names, "Account": ...), not part of a longer id or number: not
# the fraction or the whole part of a decimal number (a measured latency may have 12 decimals)
ACCOUNT_RE = re.compile(r"(?<![0-9A-Za-z])(?<!\d\.)\d{12}(?![0-9A-Za-z])(?!\.\d)")
DATA_URI_RE = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+")
TEXT_SUFFIXES = {".json", ".csv", ".md", ".txt", ".log", ".html", ".yaml", ".yml", ".svg"}


def text(s: str) -> str:
    """Any 12-digit number shown as connect.mask_account shows an account id; data: URIs untouched."""
    def mask(part: str) -> str:
        return ACCOUNT_RE.sub(lambda m: mask_account(m.group(0)), part)
    out, last = [], 0
    for m in DATA_URI_RE.finditer(s):
        out += [mask(s[last:m.start()]), m.group(0)]
        last = m.end()
    out.append(mask(s[last:]))
    return "".join(out)


def _binary(key: str) -> bool:
    """A notebook output's MIME key whose value is base64 data, not text."""
    return key.startswith(("image/", "audio/", "video/")) and not key.startswith("image/svg")


def value(obj: Any) -> Any:
    """Every string in a JSON-like value masked (image data in notebook outputs left as it is)."""
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, list):
        return [value(v) for v in obj]
    if isinstance(obj, dict):
        return {k: (v if _binary(str(k)) else value(v)) for k, v in obj.items()}
    return obj


def notebook_json(buf: str) -> str:
    """A notebook's JSON text with every account id masked, laid out as nbformat writes it."""
    try:
        nb = json.loads(buf)
    except ValueError:
        return text(buf)
    return json.dumps(value(nb), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def file(path: Path) -> bool:
    """Mask one written file in place (notebooks and text files); True when it changed."""
    path = Path(path)
    if path.suffix == ".ipynb":
        masker = notebook_json
    elif path.suffix.lower() in TEXT_SUFFIXES:
        masker = text
    else:
        return False
    try:
        before = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not ACCOUNT_RE.search(before):
        return False
    path.write_text(masker(before), encoding="utf-8")
    return True


def folder(path: Path) -> list[Path]:
    """Mask every notebook and text file under a folder; the files that changed."""
    root = Path(path)
    return [p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink() and file(p)]

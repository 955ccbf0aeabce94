"""Read the JSON contract of docs/output.md: each object's section title and the keys its table lists."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "output.md"


def documented_objects() -> dict[str, list[str]]:
    """Return {section title: keys of its `| Key | Meaning |` table} for the JSON contract's sections."""
    text = DOC.read_text(encoding="utf-8")
    contract = text[text.index("## The JSON contract") : text.index("### Errors")]
    found: dict[str, list[str]] = {}
    for section in re.split(r"^### ", contract, flags=re.M)[1:]:
        title = section.split("(")[0].split("\n")[0].strip()
        rows = re.findall(r"^\| (`[^|]+`) \|", section, flags=re.M)
        found[title] = [key for row in rows for key in re.findall(r"`([a-z_0-9]+)`", row)]
    return found

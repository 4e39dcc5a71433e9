"""The docs keep up with the code: every scode has a troubleshooting row."""

from __future__ import annotations

from pathlib import Path

from vmop.compute.scodes import Scode

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_scode_is_explained() -> None:
    text = (DOCS / "troubleshooting.md").read_text()
    missing = [code.name for code in Scode if code != Scode.OK and f"| {code.value} | `{code.name}` (" not in text]
    assert not missing, f"add rows to docs/troubleshooting.md for {missing}"

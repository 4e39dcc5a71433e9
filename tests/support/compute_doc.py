"""The request and response examples of ../shared/compute-api.md, read out of the doc itself."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SECTION = re.compile(r"^### (GET|POST)&nbsp; /v1/compute/(\S+)\s*$", re.MULTILINE)
CODE_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL)


def doc_path() -> Path:
    """The doc beside the checkout (../shared), or where VMOP_COMPUTE_DOC points."""
    if "VMOP_COMPUTE_DOC" in os.environ:
        return Path(os.environ["VMOP_COMPUTE_DOC"])
    return Path(__file__).resolve().parents[2].parent / "shared" / "compute-api.md"


@dataclass
class Example:
    method: str
    endpoint: str  # path after /v1/compute/
    request_text: str | None
    responses: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.endpoint

    def request(self) -> dict[str, Any]:
        """The example's JSON body, or its query parameters for GET."""
        assert self.request_text is not None
        lines = [ln for ln in self.request_text.strip().splitlines() if ln.strip()]
        if self.method == "GET":
            url = lines[0].strip()
            return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        body = [ln for ln in lines if not re.match(r"^(POST|GET)\s|^https?://", ln.strip())]
        parsed: dict[str, Any] = json.loads("\n".join(body))
        return parsed


def repair_json(text: str) -> str:
    """Mend the doc's known typos (interface/attach's example lacks its opening brace and has a
    trailing comma) without touching well-formed examples."""
    fixed = text.strip()
    if not fixed.startswith("{"):
        fixed = "{" + fixed
    return re.sub(r",(\s*[}\]])", r"\1", fixed)


def load_examples() -> list[Example]:
    text = doc_path().read_text(encoding="utf-8")
    matches = list(SECTION.finditer(text))
    examples = []
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else text.find("# 数据结构", match.end())
        body = text[match.end() : end]
        examples.append(_example(match.group(1), match.group(2), body))
    return examples


def _example(method: str, endpoint: str, body: str) -> Example:
    start = body.find("示例**")
    split = body.find("**返回示例**")
    if start < 0 or split < 0:
        return Example(method, endpoint, None)
    request_blocks = CODE_BLOCK.findall(body[start:split])
    request = request_blocks[0] if request_blocks else None
    if request is not None and request.strip() == "无":
        request = None
    responses = [b for b in CODE_BLOCK.findall(body[split:]) if b.strip() and b.strip() != "无"]
    return Example(method, endpoint, request, responses)

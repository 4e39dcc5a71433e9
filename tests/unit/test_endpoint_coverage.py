"""docs/platform-endpoints.md tells the truth: one row per endpoint of the compute doc, naming the
client methods that call it and whether the simulator answers it; every endpoint left out says why."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support.compute_doc import doc_path
from vmop.compute import endpoints as ep
from vmop.sim.app import ROUTES

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| (GET|POST) \| `([^`]+)` \| (.*?) \| (yes|—) \| (.*) \|$", re.MULTILINE)
HEADING = re.compile(r"^### (GET|POST)&nbsp; /v1/compute/(\S+)\s*$", re.MULTILINE)
MODELLED_AT_LEAST = 80  # issue 15


def client_methods_by_path() -> dict[str, set[str]]:
    """Public ComputeClient methods -> the endpoints (ep.NAME) their body names."""
    tree = ast.parse((ROOT / "operator/vmop/compute/client.py").read_text())
    client = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ComputeClient")
    found: dict[str, set[str]] = {}
    for method in client.body:
        if isinstance(method, ast.AsyncFunctionDef) and not method.name.startswith("_"):
            for node in ast.walk(method):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ep":
                    endpoint: ep.Endpoint = getattr(ep, node.attr)
                    found.setdefault(endpoint.path.removeprefix("/v1/compute/"), set()).add(method.name)
    return found


def test_the_table_matches_the_doc_the_client_and_the_simulator() -> None:
    documented = HEADING.findall(doc_path().read_text(encoding="utf-8"))
    rows = ROW.findall((ROOT / "docs/platform-endpoints.md").read_text())
    assert [(method, path) for method, path, *_ in rows] == documented
    methods = client_methods_by_path()
    simulated = {route.endpoint.path.removeprefix("/v1/compute/") for route in ROUTES}
    for _, path, client, sim, why in rows:
        named = set(re.findall(r"`(\w+)`", client))
        assert named == methods.get(path, set()), (path, named)
        assert (sim == "yes") == (path in simulated), path
        if not named:
            assert why.startswith("out of scope: ") and len(why) > len("out of scope: "), path
    for endpoint in vars(ep).values():
        if isinstance(endpoint, ep.Endpoint):
            path = endpoint.path.removeprefix("/v1/compute/")
            assert (endpoint.method, path) in documented, f"{path}: not an endpoint of the doc"


def test_client_and_simulator_model_at_least_80_endpoints() -> None:
    rows = ROW.findall((ROOT / "docs/platform-endpoints.md").read_text())
    both = [path for _, path, client, sim, _ in rows if client != "—" and sim == "yes"]
    assert len(both) >= MODELLED_AT_LEAST, len(both)
    assert f"**{len(both)} of {len(rows)}**" in (ROOT / "docs/platform-endpoints.md").read_text()

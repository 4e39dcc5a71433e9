"""The Argo CD health checks of deploy/argocd, run by a real Lua 5.1 (Argo CD's gopher-lua speaks
5.1) against the fixtures of tests/fixtures/argocd/<kind>/<Expected>--<case>.yaml: objects as
`kubectl get -o yaml` shows them, the expected health status in the file name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa.lua51 as lua51  # a real Lua 5.1 (dev dependency lupa), like Argo CD's gopher-lua
import pytest
import yaml
from pydantic import BaseModel

from tests.support.deploy import ARGOCD, ARGOCD_KINDS, REPO, argocd_cm_patch, health_script
from vmop.api.virtualmachine import VirtualMachineSpec, VirtualMachineStatus
from vmop.api.vmgroup import VmGroupSpec, VmGroupStatus
from vmop.api.vmmigration import VmMigrationSpec, VmMigrationStatus

FIXTURES = REPO / "tests" / "fixtures" / "argocd"
KINDS = ARGOCD_KINDS
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def run_health(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Run the check the way Argo CD does: the object as the global `obj`, the chunk's return
    value the health (a table with status and message)."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    g = lua.globals()
    for unsafe in ("io", "os", "require", "dofile", "loadfile", "package", "debug"):
        g[unsafe] = None  # a health check needs none of these; Argo CD's sandbox may lack them
    g.obj = lua.table_from(obj, recursive=True)
    result = lua.execute(health_script(kind))
    assert result is not None, "the script must return a health table"
    return {key: result[key] for key in ("status", "message")}


def fixtures() -> list[Any]:
    cases = []
    for path in sorted(FIXTURES.glob("*/*.yaml")):
        expected, _, case = path.stem.partition("--")
        cases.append(pytest.param(path, expected, id=f"{path.parent.name}-{expected}-{case}"))
    return cases


def load(path: Path) -> dict[str, Any]:
    obj = yaml.safe_load(path.read_text())
    assert isinstance(obj, dict)
    return obj


def health_of(folder: str, fixture: str) -> dict[str, Any]:
    return run_health(folder, load(FIXTURES / folder / f"{fixture}.yaml"))


@pytest.mark.parametrize(("path", "expected"), fixtures())
def test_health(path: Path, expected: str) -> None:
    obj = load(path)
    assert KINDS[path.parent.name] == obj["kind"], "fixture folder and kind disagree"
    health = run_health(path.parent.name, obj)
    assert health["status"] == expected, f"{path.name}: {health}"
    assert isinstance(health["message"], str) and health["message"], "Argo CD shows the message: say something"


def test_fixtures_cover_every_status_of_every_kind() -> None:
    """Each kind has fixtures for Healthy, Progressing, Degraded and Suspended (the paused annotation)."""
    for folder in KINDS:
        seen = {p.stem.partition("--")[0] for p in (FIXTURES / folder).glob("*.yaml")}
        assert seen == {"Healthy", "Progressing", "Degraded", "Suspended"}, folder
        assert seen <= ARGO_STATUSES


MODELS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "virtualmachine": (VirtualMachineSpec, VirtualMachineStatus),
    "vmgroup": (VmGroupSpec, VmGroupStatus),
    "vmmigration": (VmMigrationSpec, VmMigrationStatus),
}


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_fixtures_have_the_real_shape(path: Path) -> None:
    """What vmop writes, field for field: the status round-trips through the kind's model (kopf's
    own bookkeeping aside), and the spec is one the model accepts."""
    spec_model, status_model = MODELS[path.parent.name]
    obj = load(path)
    spec_model.model_validate(obj["spec"])
    status = {k: v for k, v in obj.get("status", {}).items() if k != "kopf"}
    if status:
        assert status_model.model_validate(status).model_dump(by_alias=True, exclude_none=True, mode="json") == status


# --- messages worth their words ------------------------------------------------------------------


def test_healthy_message_names_the_phase() -> None:
    assert health_of("virtualmachine", "Healthy--running-ready")["message"] == "Running: in sync"
    assert health_of("virtualmachine", "Healthy--suspended-as-requested")["message"] == "Suspended as requested"


def test_degraded_message_carries_the_platform_error() -> None:
    health = health_of("virtualmachine", "Degraded--compute-error")
    assert "scode 60021" in health["message"]


def test_conflict_message_says_what_to_do() -> None:
    health = health_of("virtualmachine", "Degraded--name-conflict")
    assert health["message"].startswith("Conflict: ")
    assert "spec.adopt.uuid" in health["message"]


def test_stale_generation_message_names_the_generation() -> None:
    health = health_of("virtualmachine", "Progressing--spec-changed-not-yet-observed")
    assert health["message"] == "Waiting for vmop to reconcile generation 3"


def test_failed_migration_message_carries_the_last_error() -> None:
    health = health_of("vmmigration", "Degraded--failed")
    assert health["message"] == "Migration failed: the destination host has not enough memory"


def test_running_migration_message_shows_progress() -> None:
    health = health_of("vmmigration", "Progressing--running")
    assert health["message"] == "Migration running (40%)"


# --- robustness: Argo CD runs the script on whatever the cluster holds -------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize(
    "obj",
    [
        {"metadata": {}},
        {"metadata": {"generation": 1}, "status": {}},
        {"metadata": {"generation": 1}, "status": {"conditions": []}},
        {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Ready"}]}},
        {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "phase": "SomethingNew"}},
    ],
    ids=["bare", "empty-status", "no-conditions", "condition-without-status", "unknown-phase"],
)
def test_sparse_objects_are_progressing(kind: str, obj: dict[str, Any]) -> None:
    health = run_health(kind, {"apiVersion": "vmop.io/v1alpha1", "kind": KINDS[kind], **obj})
    assert health["status"] == "Progressing"
    assert health["message"]


# --- what ships: the argocd-cm patch carries the scripts verbatim ------------------------------------


def test_argocd_cm_patch_carries_the_scripts_verbatim() -> None:
    text = (ARGOCD / "argocd-cm-patch.yaml").read_text()
    assert text == argocd_cm_patch(), "stale: regenerate it with `python -m tests.support.deploy`"
    patch = yaml.safe_load(text)
    assert patch["kind"] == "ConfigMap" and patch["metadata"]["name"] == "argocd-cm"
    expected = {f"resource.customizations.health.vmop.io_{kind}": health_script(f) for f, kind in KINDS.items()}
    assert patch["data"] == expected


def test_scripts_use_only_what_argo_offers() -> None:
    for folder in KINDS:
        script = health_script(folder)
        for forbidden in ("require", "io.", "os.", "print(", "dofile", "loadstring"):
            assert forbidden not in script, f"{folder}.lua uses {forbidden}"

"""The Argo CD health checks of deploy/argocd, run by a real Lua 5.1 (Argo CD's gopher-lua speaks
5.1) against the fixtures of tests/fixtures/argocd/<kind>/<Expected>--<case>.yaml: objects as
`kubectl get -o yaml` shows them, the expected health status in the file name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy import ARGOCD, REPO
from vmop.api.conditions import Condition
from vmop.api.virtualmachine import VirtualMachineSpec, VirtualMachineStatus

lua51 = pytest.importorskip("lupa.lua51", reason="lupa (a dev dependency) runs the health checks")

FIXTURES = REPO / "tests" / "fixtures" / "argocd"
KINDS = {"virtualmachine": "VirtualMachine", "vmgroup": "VmGroup", "vmmigration": "VmMigration"}
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
# Argo CD loads the standard libraries below into its Lua VM (and no io/os); see its lua package.
ARGO_LIBS = ("base", "table", "string", "math", "coroutine")


def health_script(kind: str) -> str:
    return (ARGOCD / "health" / f"{kind}.lua").read_text()


def run_health(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Run the check the way Argo CD does: the object as the global `obj`, the chunk's return
    value the health (a table with status and message)."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    g = lua.globals()
    for unsafe in ("io", "os", "require", "dofile", "loadfile", "package", "debug"):
        g[unsafe] = None  # what Argo CD's VM does not offer must not be used
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


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("virtualmachine/*.yaml")), ids=lambda p: p.stem)
def test_virtual_machine_fixtures_have_the_real_shape(path: Path) -> None:
    """What vmop writes, field for field: the status round-trips through the model (kopf's own
    bookkeeping aside), and the spec is one the model accepts."""
    obj = load(path)
    VirtualMachineSpec.model_validate(obj["spec"])
    status = {k: v for k, v in obj.get("status", {}).items() if k != "kopf"}
    if not status:
        return
    model = VirtualMachineStatus.model_validate(status)
    assert model.model_dump(by_alias=True, exclude_none=True, mode="json") == status


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("vm[gm]*/*.yaml")), ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_group_and_migration_conditions_have_the_real_shape(path: Path) -> None:
    for condition in load(path).get("status", {}).get("conditions", []):
        assert Condition.model_validate(condition).model_dump(by_alias=True, mode="json") == condition


# --- messages worth their words ------------------------------------------------------------------


def test_degraded_message_carries_the_platform_error() -> None:
    health = run_health("virtualmachine", load(FIXTURES / "virtualmachine" / "Degraded--compute-error.yaml"))
    assert "scode 60021" in health["message"]


def test_conflict_message_says_what_to_do() -> None:
    health = run_health("virtualmachine", load(FIXTURES / "virtualmachine" / "Degraded--name-conflict.yaml"))
    assert health["message"].startswith("Conflict: ")
    assert "spec.adopt.uuid" in health["message"]


def test_stale_generation_message_names_the_generation() -> None:
    health = run_health("virtualmachine", load(FIXTURES / "virtualmachine" / "Progressing--spec-changed-not-yet-observed.yaml"))
    assert health["message"] == "Waiting for vmop to reconcile generation 3"


def test_failed_migration_message_carries_the_last_error() -> None:
    health = run_health("vmmigration", load(FIXTURES / "vmmigration" / "Degraded--failed.yaml"))
    assert health["message"] == "Migration failed: target host has not enough memory"


def test_running_migration_message_shows_progress() -> None:
    health = run_health("vmmigration", load(FIXTURES / "vmmigration" / "Progressing--running.yaml"))
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
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert patch["kind"] == "ConfigMap" and patch["metadata"]["name"] == "argocd-cm"
    expected = {f"resource.customizations.health.vmop.io_{kind}": health_script(f) for f, kind in KINDS.items()}
    assert patch["data"] == expected, "regenerate deploy/argocd/argocd-cm-patch.yaml from health/*.lua"


def test_scripts_use_only_what_argo_offers() -> None:
    for folder in KINDS:
        script = health_script(folder)
        for forbidden in ("require", "io.", "os.", "print(", "dofile", "loadstring"):
            assert forbidden not in script, f"{folder}.lua uses {forbidden}"

"""The Argo CD health checks of deploy/argocd, run by Argo CD's own code (tests/support/argocd.py:
its settings, Lua VM and gitops-engine health, with only the Lua libraries Argo CD opens) against
the fixtures of tests/fixtures/argocd/<kind>/<Expected>--<case>.yaml: objects as `kubectl get -o
yaml` shows them, the expected health status in the file name. Live objects are checked in the
integration tests (assert_live_health)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from tests.support.argocd import Health, argocd_health
from tests.support.deploy import ARGOCD, ARGOCD_CM_PATCH_HEADER, ARGOCD_KINDS, REPO, argocd_cm_patch, health_script
from vmop.api.virtualmachine import VirtualMachineSpec, VirtualMachineStatus
from vmop.api.vmgroup import VmGroupSpec, VmGroupStatus
from vmop.api.vmmigration import VmMigrationSpec, VmMigrationStatus
from vmop.api.vmpool import VmPoolSpec, VmPoolStatus

FIXTURES = REPO / "tests" / "fixtures" / "argocd"
FIXTURE_PATHS = sorted(FIXTURES.glob("*/*.yaml"))
KINDS = ARGOCD_KINDS
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def load(path: Path) -> dict[str, Any]:
    obj = yaml.safe_load(path.read_text())
    assert isinstance(obj, dict)
    return json.loads(json.dumps(obj, default=str))  # as the API server serves it: JSON


@functools.cache
def fixture_healths() -> dict[Path, Health]:
    """Every fixture through Argo CD in one run of the helper."""
    return dict(zip(FIXTURE_PATHS, argocd_health([load(p) for p in FIXTURE_PATHS]), strict=True))


def fixtures() -> list[Any]:
    cases = []
    for path in FIXTURE_PATHS:
        expected, _, case = path.stem.partition("--")
        cases.append(pytest.param(path, expected, id=f"{path.parent.name}-{expected}-{case}"))
    return cases


def health_of(folder: str, fixture: str) -> Health:
    return fixture_healths()[FIXTURES / folder / f"{fixture}.yaml"]


@pytest.mark.parametrize(("path", "expected"), fixtures())
def test_health(path: Path, expected: str) -> None:
    obj = load(path)
    assert KINDS[path.parent.name] == obj["kind"], "fixture folder and kind disagree"
    health = fixture_healths()[path]
    assert health["status"] == expected, f"{path.name}: {health}"
    assert "error" not in health, health
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
    "vmpool": (VmPoolSpec, VmPoolStatus),
}


@pytest.mark.parametrize("path", FIXTURE_PATHS, ids=lambda p: f"{p.parent.name}-{p.stem}")
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


def test_a_newer_generation_waiting_on_something_known_says_what() -> None:
    """Not a bare "waiting for generation N" when Synced, stamped with that generation, says why."""
    health = health_of("virtualmachine", "Progressing--new-generation-waits-for-group")
    assert health["message"] == "Generation 3: waiting for VmGroup web to exist on the platform"
    health = health_of("virtualmachine", "Progressing--new-generation-platform-unavailable")
    assert health["message"] == "Generation 3: compute API unavailable: connection refused"
    health = health_of("vmgroup", "Progressing--new-generation-platform-unavailable")
    assert health["message"] == "Generation 2: compute API unavailable: connection refused"


def test_a_migrating_vm_is_progressing_and_says_so() -> None:
    health = health_of("virtualmachine", "Progressing--migrating-under-vmmigration")
    assert health["message"] == "Migrating: VmMigration web-1-to-b2 is in progress: no power or shape changes"
    health = health_of("virtualmachine", "Progressing--migrating-while-running")
    assert health["message"] == "Migrating: waiting for the platform's migrating to finish"


def test_final_migration_messages_name_the_phase() -> None:
    assert health_of("vmmigration", "Degraded--aborted-not-asked")["message"].startswith("Migration aborted")
    assert health_of("vmmigration", "Progressing--pending")["message"].startswith("Migration pending")


# --- robustness: Argo CD runs the script on whatever the cluster holds -------------------------------

SPARSE = {
    "bare": {"metadata": {}},
    "empty-status": {"metadata": {"generation": 1}, "status": {}},
    "no-conditions": {"metadata": {"generation": 1}, "status": {"conditions": []}},
    "condition-without-status": {
        "metadata": {"generation": 1},
        "status": {"observedGeneration": 1, "conditions": [{"type": "Ready"}]},
    },
    "synced-without-reason": {
        "metadata": {"generation": 2},
        "status": {
            "observedGeneration": 1,
            "conditions": [{"type": "Synced", "status": "False", "observedGeneration": 2}],
        },
    },
    "unknown-phase": {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "phase": "SomethingNew"}},
}


@functools.cache
def sparse_healths() -> dict[tuple[str, str], Health]:
    cases = [(kind, case) for kind in sorted(KINDS) for case in SPARSE]
    objects = [{"apiVersion": "vmop.io/v1alpha1", "kind": KINDS[kind], **SPARSE[case]} for kind, case in cases]
    return dict(zip(cases, argocd_health(objects), strict=True))


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("case", SPARSE)
def test_sparse_objects_are_progressing(kind: str, case: str) -> None:
    health = sparse_healths()[(kind, case)]
    assert health["status"] == "Progressing", health
    assert health["message"]


# --- the harness is Argo CD's sandbox: what Argo CD refuses, it refuses ------------------------------


def migration_check(tmp_path: Path, script: str) -> Health:
    """A one-off health check for VmMigration, shipped the way deploy/argocd ships vmop's."""
    patch = tmp_path / "argocd-cm.yaml"
    indented = "\n".join(f"    {line}" for line in script.splitlines())
    patch.write_text(f"{ARGOCD_CM_PATCH_HEADER}  resource.customizations.health.vmop.io_VmMigration: |\n{indented}\n")
    obj = load(FIXTURES / "vmmigration" / "Progressing--running.yaml")
    (health,) = argocd_health([obj], argocd_cm=patch)
    return health


@pytest.mark.parametrize(
    "expression",
    ["string.lower(obj.status.phase)", "obj.status.phase:lower()", 'string.format("%s", obj.status.phase)'],
)
def test_the_string_library_is_missing_as_in_argo_cd(tmp_path: Path, expression: str) -> None:
    """The old vmmigration.lua's string.lower: Argo CD shows Unknown, and so does the harness."""
    health = migration_check(tmp_path, f'return {{ status = "Progressing", message = {expression} }}')
    assert health["status"] == "Unknown", health
    assert "attempt to" in health.get("error", ""), health


def test_base_and_table_libraries_are_there(tmp_path: Path) -> None:
    health = migration_check(
        tmp_path, 'return { status = "Healthy", message = table.concat({ tostring(obj.status.progress), "%" }) }'
    )
    assert health == {"status": "Healthy", "message": "40%"}


# --- what ships: the argocd-cm patch carries the scripts verbatim ------------------------------------


def test_argocd_cm_patch_carries_the_scripts_verbatim() -> None:
    text = (ARGOCD / "argocd-cm-patch.yaml").read_text()
    assert text == argocd_cm_patch(), "stale: regenerate it with `python -m tests.support.deploy`"
    patch = yaml.safe_load(text)
    assert patch["kind"] == "ConfigMap" and patch["metadata"]["name"] == "argocd-cm"
    expected = {f"resource.customizations.health.vmop.io_{kind}": health_script(f) for f, kind in KINDS.items()}
    assert patch["data"] == expected


def test_scripts_use_only_what_argo_offers() -> None:
    """Branches no fixture reaches too: nothing of the string, io or os libraries, no method calls
    on strings (Argo CD opens only base, table, package and a time/date-only os)."""
    for folder in KINDS:
        script = health_script(folder)
        for forbidden in (
            "require",
            "io.",
            "os.",
            "string.",
            ":lower",
            ":upper",
            ":find",
            ":match",
            ":gsub",
            ":sub(",
            ":format",
            ":len",
            "print(",
            "dofile",
            "loadstring",
        ):
            assert forbidden not in script, f"{folder}.lua uses {forbidden}"

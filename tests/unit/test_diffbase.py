"""kopf's last-handled configuration keeps the spec as a digest (handlers/runtime.py): kopf still
sees every spec change, and `kubectl describe` is not a second copy of the spec."""

from __future__ import annotations

import json
from typing import Any

import kopf

from vmop.controller.virtualmachine import ANNOTATION_UUID
from vmop.handlers.runtime import SpecDigestDiffBaseStorage

SPEC: dict[str, Any] = {
    "cpu": {"sockets": 1, "cores": 2},
    "memory": "2Gi",
    "disks": [{"name": f"disk-{i}", "bus": "scsi", "size": "10Gi", "pool": "p" * 36} for i in range(8)],
}


def body(spec: dict[str, Any], **annotations: str) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "vmop.io/v1alpha1",
            "kind": "VirtualMachine",
            "metadata": {"name": "vm", "namespace": "ns", "annotations": annotations},
            "spec": spec,
            "status": {"phase": "Running"},
        }
    )


def storage() -> SpecDigestDiffBaseStorage:
    return SpecDigestDiffBaseStorage(ignored_fields=[("metadata", "annotations", ANNOTATION_UUID)])


def test_the_spec_is_kept_as_its_digest() -> None:
    essence = storage().build(body=body(SPEC))
    assert str(essence["spec"]).startswith("sha256:") and len(str(essence["spec"])) == 71


def test_any_spec_change_is_a_change_and_key_order_is_not() -> None:
    first = storage().build(body=body(SPEC))
    reordered = dict(reversed(list(SPEC.items())))
    assert storage().build(body=body(reordered)) == first
    assert storage().build(body=body(SPEC | {"memory": "4Gi"})) != first


def test_watched_annotations_stay_readable_and_ignored_ones_out() -> None:
    essence = storage().build(body=body(SPEC, **{"vmop.io/paused": "true", ANNOTATION_UUID: "u"}))
    assert essence["metadata"]["annotations"] == {"vmop.io/paused": "true"}


def test_what_is_stored_is_short_and_read_back_as_built() -> None:
    kept, patch = storage(), kopf.Patch()
    essence = kept.build(body=body(SPEC))
    kept.store(body=body(SPEC), patch=patch, essence=essence)
    stored = patch["status"]["kopf"]["last-handled-configuration"]
    assert len(stored) < 120 < len(json.dumps(SPEC)), stored
    assert kept.fetch(body=kopf.Body({"status": {"kopf": {"last-handled-configuration": stored}}})) == essence

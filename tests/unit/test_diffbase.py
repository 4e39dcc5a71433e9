"""kopf's diff-base as vmop configures it (handlers/runtime.py): the spec as a digest and vmop's
own annotations, nothing else. kopf still sees every spec change, `kubectl describe` is not a
second copy of the spec, and the status patch that carries it stays small whatever the object's
labels and annotations."""

from __future__ import annotations

import json
from typing import Any

import kopf

from vmop.api.annotations import ANNOTATION_UUID
from vmop.config import OperatorConfig
from vmop.handlers.runtime import CompactDiffBaseStorage, configure_settings

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


def storage() -> CompactDiffBaseStorage:
    return CompactDiffBaseStorage(ignored_fields=[("metadata", "annotations", ANNOTATION_UUID)])


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


def test_the_diff_base_of_a_huge_object_is_the_spec_digest_and_vmops_annotations() -> None:
    settings = kopf.OperatorSettings()
    configure_settings(settings, OperatorConfig(compute_url="http://127.0.0.1:1"))
    labels = {f"example.com/label-{i:05d}": "v" * 40 for i in range(16_000)}
    annotations = {"note": "x" * 1000, "vmop.io/paused": "true", "vmop.io/uuid": "u-1"}
    spec = {"cluster": "c", "tenant": "t", "memory": "1Gi"}
    raw = {
        "apiVersion": "vmop.io/v1alpha1",
        "kind": "VirtualMachine",
        "metadata": {"name": "big", "namespace": "ns", "labels": labels, "annotations": annotations},
        "spec": spec,
        "status": {"kopf": {"last-handled-configuration": "{}"}},
    }
    huge = kopf.Body(raw)
    essence = settings.persistence.diffbase_storage.build(body=huge)
    assert essence == {
        "spec": storage().build(body=body(spec))["spec"],
        "metadata": {"annotations": {"vmop.io/paused": "true"}},
    }
    patch = kopf.Patch()
    settings.persistence.diffbase_storage.store(body=huge, patch=patch, essence=essence)
    assert len(json.dumps(patch)) < 250, patch  # a digest and one annotation
    assert len(json.dumps(raw)) > 1_000_000  # the object itself is over a megabyte

"""kopf's diff-base as vmop configures it: the spec and vmop's own annotations, nothing else, so
the status patch that carries it stays small whatever the object's labels and annotations."""

from __future__ import annotations

import json

import kopf

from vmop.config import OperatorConfig
from vmop.handlers.runtime import configure_settings


def test_the_diff_base_of_a_huge_object_is_the_spec_and_vmops_annotations() -> None:
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
    body = kopf.Body(raw)
    essence = settings.persistence.diffbase_storage.build(body=body)
    assert essence == {"spec": spec, "metadata": {"annotations": {"vmop.io/paused": "true"}}}
    patch = kopf.Patch()
    settings.persistence.diffbase_storage.store(body=body, patch=patch, essence=essence)
    assert len(json.dumps(patch)) < 200, patch
    assert len(json.dumps(raw)) > 1_000_000  # the object itself is over a megabyte

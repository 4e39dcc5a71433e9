"""GitOps: after vmop reconciles, re-applying the same manifest changes nothing (no perpetual
OutOfSync in Argo CD): vmop writes status and its own annotations, never spec or the applier's
fields."""

from __future__ import annotations

import json

import pytest
from tests.integration.test_virtualmachine_lifecycle import manifest, unique, wait_ready
from tests.integration.test_virtualmachine_lifecycle import status as status_of
from tests.support.processes import Kube, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("operator")]


@pytest.mark.parametrize("apply_mode", ["server-side", "client-side"])
def test_reapplying_the_manifest_after_reconcile_is_a_no_op(kube: Kube, apply_mode: str) -> None:
    name = unique(f"gitops-{apply_mode.split('-')[0]}")
    document = json.dumps(manifest(name))
    apply = ["apply", "-n", kube.namespace, "-f", "-"]
    diff = ["diff", "-n", kube.namespace, "-f", "-"]
    if apply_mode == "server-side":
        apply += ["--server-side", "--field-manager=argocd-controller"]
        diff += ["--server-side", "--field-manager=argocd-controller"]
    kube.plane.kubectl(*apply, stdin=document)
    before = wait_ready(kube, name)
    assert before["metadata"]["annotations"]["vmop.io/create-pending"]  # vmop did write its bookkeeping
    changed = kube.plane.kubectl(*diff, stdin=document, check=False)
    assert changed.returncode == 0, f"re-applying shows drift:\n{changed.stdout}{changed.stderr}"
    dry_run = kube.plane.kubectl(*apply, "--dry-run=server", "-o", "json", stdin=document)
    assert json.loads(dry_run.stdout)["metadata"]["generation"] == before["metadata"]["generation"]


def test_describe_is_about_the_object_not_kopfs_copy_of_it(kube: Kube) -> None:
    """kopf writes nothing to the object: `kubectl describe` shows no bookkeeping of it and no
    second copy of the spec (and spec changes are still seen)."""
    name = unique("described")
    kube.apply(manifest(name))
    wait_ready(kube, name)
    described = kube.plane.kubectl("describe", "vm", name, "-n", kube.namespace).stdout
    assert "Kopf:" not in described and "Last - Handled" not in described, described
    assert "Size:" in described and described.count("10Gi") == 1, "the disk's size, once: in Spec"
    kube.patch_spec("virtualmachine", name, {"memory": "3Gi"})
    wait_for(lambda: status_of(kube, name).get("memory") == "3Gi", timeout=30, what="the change handled")

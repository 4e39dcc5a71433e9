"""deploy/: the kustomize base (the chart's defaults as plain manifests), its overlay example and
the Argo CD component, built with the cached kubectl; then applied to the real control plane."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.deploy import (
    ARGOCD,
    ARGOCD_KINDS,
    CRDS,
    DEPLOY,
    REPO,
    Manifest,
    by_kind,
    documents,
    health_script,
    one,
    render,
    run_tool,
)

from vmop.cli import build_parser
from vmop.config import config_from_arguments
from vmop.dev.controlplane import ControlPlane

NAMESPACE = "vmop-system"
BASE_URL = "https://hci.example.invalid"  # deploy/deployment.yaml's placeholder
OVERLAY = REPO / "examples" / "kustomize-overlay"


def build(directory: Path) -> list[Manifest]:
    return documents(run_tool("kubectl", "kustomize", str(directory)).stdout)


def key(obj: Manifest) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def without_labels(obj: Manifest) -> Manifest:
    """Labels differ by design (Helm's release labels); everything else must not."""
    stripped = copy.deepcopy(obj)
    stripped["metadata"].pop("labels", None)
    template = stripped.get("spec", {}).get("template", {})
    template.get("metadata", {}).pop("labels", None)
    return stripped


BASE = build(DEPLOY)


def test_base_holds_the_operator_and_the_crds() -> None:
    kinds = sorted(key(o) for o in BASE if o["kind"] != "CustomResourceDefinition")
    assert kinds == [
        ("ClusterRole", "", "vmop"),
        ("ClusterRoleBinding", "", "vmop"),
        ("Deployment", NAMESPACE, "vmop"),
        ("Namespace", "", NAMESPACE),
        ("Role", NAMESPACE, "vmop-credentials"),
        ("RoleBinding", NAMESPACE, "vmop-credentials"),
        ("Service", NAMESPACE, "vmop-metrics"),
        ("ServiceAccount", NAMESPACE, "vmop"),
        ("ValidatingAdmissionPolicy", "", "vmop-no-spec-writes"),
        ("ValidatingAdmissionPolicyBinding", "", "vmop-no-spec-writes"),
    ]
    shipped = [yaml.safe_load(p.read_text()) for p in sorted(CRDS.glob("*.yaml"))]
    assert sorted(by_kind(BASE, "CustomResourceDefinition"), key=key) == sorted(shipped, key=key), (
        "deploy/ installs crds/ unchanged"
    )


def test_base_is_the_charts_defaults() -> None:
    """`helm template` with the chart's defaults, the base's namespace and its two settings (the
    Secret by reference, the placeholder URL) gives the same objects, labels and Helm's
    release-qualified cluster-scoped names aside."""
    chart = render(
        "credentials.existingSecret=vmop-credentials",
        f"compute.url={BASE_URL}",
        release="vmop",
        namespace=NAMESPACE,
        extra=["--include-crds"],
    )
    expected = {key(o): without_labels(o) for o in documents(chart.replace("vmop-vmop-system", "vmop"))}
    actual = {key(o): without_labels(o) for o in BASE if o["kind"] != "Namespace"}
    assert sorted(actual) == sorted(expected)
    for name, obj in expected.items():
        assert actual[name] == obj, f"deploy/ differs from the chart's defaults in {name}"


def test_vmop_run_accepts_the_command() -> None:
    operator = one(BASE, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    config = config_from_arguments(build_parser().parse_args([*operator["command"][1:], *operator["args"]]))
    assert config.compute_url == BASE_URL
    assert config.credentials_secret == f"{NAMESPACE}/vmop-credentials"
    assert config.namespaces == [], "cluster-wide"


def test_credentials_example_is_not_applied_but_matches() -> None:
    assert not by_kind(BASE, "Secret"), "the credentials Secret is the user's to create"
    example = yaml.safe_load((DEPLOY / "credentials.example.yaml").read_text())
    assert (example["kind"], example["metadata"]["namespace"]) == ("Secret", NAMESPACE)
    name = example["metadata"]["name"]
    args = one(BASE, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--credentials-secret={NAMESPACE}/{name}" in args
    assert one(BASE, "Role")["rules"][0]["resourceNames"] == [name]


def test_overlay_example_sets_url_and_log_level() -> None:
    base_args = one(BASE, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    args = one(build(OVERLAY), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    # The overlay's JSON patch replaces by index: it must still hit the flags it means.
    assert base_args[0].startswith("--compute-url=") and args[0] == "--compute-url=https://hci.example.com"
    assert base_args[8].startswith("--log-level=") and args[8] == "--log-level=DEBUG"
    assert len(args) == len(base_args)


def test_overlay_drops_the_admission_policy_for_older_clusters(tmp_path: Path) -> None:
    """Before Kubernetes 1.30 there is no admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy:
    the overlay of docs/installation.md deletes both objects and keeps everything else."""
    deletions = [
        {
            "patch": yaml.safe_dump(
                {
                    "$patch": "delete",
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": kind,
                    "metadata": {"name": "vmop-no-spec-writes"},
                }
            )
        }
        for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    ]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(DEPLOY, tmp_path)],
        "patches": deletions,
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    kept = sorted(key(o) for o in build(tmp_path))
    assert kept == sorted(key(o) for o in BASE if not o["kind"].startswith("ValidatingAdmissionPolicy"))
    assert len(kept) == len(BASE) - 2


def test_argocd_component_patches_argocd_cm(tmp_path: Path) -> None:
    """The component merges the health checks into an existing argocd-cm, in its namespace,
    keeping its other settings."""
    existing = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "gitops"},
        "data": {"url": "https://argocd.example.com"},
    }
    (tmp_path / "argocd-cm.yaml").write_text(yaml.safe_dump(existing))
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["argocd-cm.yaml"],
        "components": [os.path.relpath(ARGOCD, tmp_path)],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    (cm,) = build(tmp_path)
    assert cm["metadata"] == existing["metadata"]
    expected = {f"resource.customizations.health.vmop.io_{kind}": health_script(f) for f, kind in ARGOCD_KINDS.items()}
    assert cm["data"] == {"url": "https://argocd.example.com", **expected}


# --- against the control plane -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def system_namespace(control_plane: ControlPlane) -> Iterator[bool]:
    """vmop-system exists (namespaced objects need it, even for a dry run); True when this module
    created it (and deletes it at the end), False when it was there before (a real installation
    on an existing cluster: left alone)."""
    phase = control_plane.kubectl("get", "namespace", NAMESPACE, "-o=jsonpath={.status.phase}", check=False)
    if phase.stdout == "Terminating":  # left by an earlier run
        control_plane.kubectl("wait", "--for=delete", f"namespace/{NAMESPACE}", "--timeout=60s")
    elif phase.returncode == 0:
        yield False
        return
    control_plane.kubectl("create", "namespace", NAMESPACE)
    yield True
    # Never the CRDs: the whole session's tests use them.
    control_plane.kubectl("delete", "clusterrolebinding,clusterrole", "vmop", "--ignore-not-found", check=False)
    control_plane.kubectl(
        "delete",
        "validatingadmissionpolicybinding,validatingadmissionpolicy",
        "vmop-no-spec-writes",
        "--ignore-not-found",
        check=False,
    )
    control_plane.kubectl("delete", "namespace", NAMESPACE, "--wait=false", "--ignore-not-found", check=False)


@pytest.mark.integration
@pytest.mark.usefixtures("system_namespace")
@pytest.mark.parametrize("mode", ["client-side", "server-side"])
def test_apply_dry_run_server(control_plane: ControlPlane, mode: str) -> None:
    flags = ["--server-side", "--force-conflicts"] if mode == "server-side" else []
    applied = control_plane.kubectl("apply", *flags, "-k", str(DEPLOY), "--dry-run=server")
    lines = applied.stdout.splitlines()
    assert len(lines) == len(BASE), applied.stdout
    assert all(line.endswith("(server dry run)") for line in lines), applied.stdout


@pytest.mark.integration
def test_apply_for_real(control_plane: ControlPlane, system_namespace: bool) -> None:
    """`kubectl apply -k deploy/`: everything is created, and the ServiceAccount may do what vmop
    does and no more. Only into a vmop-system of this module's own (never a real installation)."""
    if control_plane.existing_cluster or not system_namespace:
        pytest.skip("applies vmop-system for real: only on the test's own control plane")
    control_plane.kubectl("apply", "-k", str(DEPLOY))
    got = control_plane.kubectl("get", "deployment", "vmop", "-n", NAMESPACE, "-o", "json")
    assert json.loads(got.stdout)["spec"]["template"]["spec"]["serviceAccountName"] == "vmop"
    sa = f"--as=system:serviceaccount:{NAMESPACE}:vmop"

    def can(*request: str) -> bool:
        return control_plane.kubectl("auth", "can-i", *request, sa, check=False).stdout.strip() == "yes"

    assert can("watch", "virtualmachines.vmop.io", "--all-namespaces")
    assert can("patch", "vmgroups.vmop.io/status", "-n", "default")
    assert can("get", "secret/vmop-credentials", "-n", NAMESPACE)
    assert can("get", "secret/other", "-n", NAMESPACE)  # a VM's cloud-init or console Secret, by name
    assert not can("list", "secrets", "-n", NAMESPACE)
    # A VmPool's VirtualMachines are made and deleted by vmop; the admission policy keeps that to
    # the ones a pool controls (tests/integration/test_vmpool.py).
    assert can("delete", "virtualmachines.vmop.io", "-n", "default")
    assert not can("delete", "vmgroups.vmop.io", "-n", "default")
    # Re-applying changes nothing: the base is stable under kubectl apply.
    again = control_plane.kubectl("apply", "-k", str(DEPLOY)).stdout.splitlines()
    assert all(line.endswith(" unchanged") for line in again), again

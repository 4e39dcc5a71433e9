"""The development control plane is a real one: readyz, CEL validation, subresources, tool versions."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from vmop.dev.binaries import HELM_VERSION, KUBERNETES_VERSION
from vmop.dev.controlplane import ControlPlane

pytestmark = pytest.mark.integration

CRD_NAME = "widgets.controlplane-test.vmop.dev"
CEL_MESSAGE = "minReplicas must not exceed maxReplicas"
WIDGET_CRD = f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {CRD_NAME}
spec:
  group: controlplane-test.vmop.dev
  scope: Namespaced
  names: {{kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {{status: {{}}}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [minReplicas, maxReplicas]
              properties:
                minReplicas: {{type: integer}}
                maxReplicas: {{type: integer}}
              x-kubernetes-validations:
                - rule: self.minReplicas <= self.maxReplicas
                  message: {CEL_MESSAGE}
            status:
              type: object
              properties:
                phase: {{type: string}}
"""


def widget(name: str, min_replicas: int, max_replicas: int) -> str:
    return f"""
apiVersion: controlplane-test.vmop.dev/v1
kind: Widget
metadata: {{name: {name}, namespace: default}}
spec: {{minReplicas: {min_replicas}, maxReplicas: {max_replicas}}}
"""


@pytest.fixture
def widget_crd(control_plane: ControlPlane) -> Iterator[None]:
    control_plane.kubectl("apply", "--server-side", "-f", "-", stdin=WIDGET_CRD)
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD_NAME}")
    yield
    # Also removes the widgets; matters on an existing cluster, which outlives the session.
    control_plane.kubectl("delete", "crd", CRD_NAME, "--ignore-not-found", "--wait=true")


def test_readyz_through_kubectl(control_plane: ControlPlane) -> None:
    assert control_plane.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"


@pytest.mark.usefixtures("widget_crd")
def test_cel_rule_rejects_invalid_and_accepts_valid(control_plane: ControlPlane) -> None:
    rejected = control_plane.kubectl("apply", "--server-side", "-f", "-", stdin=widget("bad", 3, 1), check=False)
    assert rejected.returncode != 0
    assert CEL_MESSAGE in rejected.stderr
    assert "Invalid value" in rejected.stderr  # the apiserver's validation error, not a client-side one

    control_plane.kubectl("apply", "--server-side", "-f", "-", stdin=widget("good", 1, 3))
    stored = control_plane.kubectl("get", "widget", "good", "-n", "default", "-o", "json").stdout
    assert json.loads(stored)["spec"] == {"minReplicas": 1, "maxReplicas": 3}
    missing = control_plane.kubectl("get", "widget", "bad", "-n", "default", check=False)
    assert missing.returncode != 0


@pytest.mark.usefixtures("widget_crd")
def test_status_subresource(control_plane: ControlPlane) -> None:
    control_plane.kubectl("apply", "--server-side", "-f", "-", stdin=widget("statusful", 1, 2))

    def phase() -> str:
        jsonpath = "-o=jsonpath={.status.phase}"
        return control_plane.kubectl("get", "widget", "statusful", "-n", "default", jsonpath).stdout

    patch = ["patch", "widget", "statusful", "-n", "default", "--type=merge"]
    control_plane.kubectl(*patch, "--subresource=status", "-p", '{"status": {"phase": "Ready"}}')
    assert phase() == "Ready"
    # With the status subresource on, the main resource ignores status changes.
    control_plane.kubectl(*patch, "-p", '{"status": {"phase": "Overwritten"}}')
    assert phase() == "Ready"


def test_tool_versions(control_plane: ControlPlane) -> None:
    versions = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"] == KUBERNETES_VERSION
    if not control_plane.existing_cluster:
        assert versions["serverVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert control_plane.helm("version", "--template", "{{.Version}}").stdout == HELM_VERSION


def test_controller_manager_serves_namespaces(control_plane: ControlPlane) -> None:
    """Default ServiceAccount and root CA appear in a new namespace, and deleting it completes."""
    control_plane.kubectl("create", "namespace", "cp-test-lifecycle")
    for created in ("serviceaccount/default", "configmap/kube-root-ca.crt"):
        control_plane.kubectl("wait", "--for=create", created, "-n", "cp-test-lifecycle", "--timeout=60s")
    control_plane.kubectl("delete", "namespace", "cp-test-lifecycle", "--wait=false")
    control_plane.kubectl("wait", "--for=delete", "namespace/cp-test-lifecycle", "--timeout=60s")


def test_garbage_collector_deletes_dependents(control_plane: ControlPlane) -> None:
    created = control_plane.kubectl("create", "configmap", "cp-test-owner", "-n", "default", "-o", "json")
    owner_uid = json.loads(created.stdout)["metadata"]["uid"]
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "cp-test-dependent",
            "namespace": "default",
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "cp-test-owner", "uid": owner_uid}],
        },
    }
    control_plane.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(dependent))
    control_plane.kubectl("delete", "configmap", "cp-test-owner", "-n", "default")
    control_plane.kubectl("wait", "--for=delete", "configmap/cp-test-dependent", "-n", "default", "--timeout=60s")

"""The chart's RBAC as a real identity: the objects `helm template` renders, applied, and a
kubeconfig with a token of their ServiceAccount (least privilege, as vmop runs in a cluster), under
the chart's admission policy that refuses spec changes by that identity."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.deploy import render_objects
from vmop.dev.controlplane import ControlPlane

SECRET_NAME = "platform-credentials"

RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
ADMISSION_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}  # cluster-scoped


def kubeconfig_for(plane: ControlPlane, path: Path, user: str, user_token: str) -> Path:
    """The admin kubeconfig's cluster (server, CA), with this token as the only user."""
    config = yaml.safe_load(plane.kubeconfig.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": user, "user": {"token": user_token}}],
                "contexts": [{"name": user, "context": {"cluster": cluster["name"], "user": user}}],
                "current-context": user,
            }
        )
    )
    path.chmod(0o600)
    return path


def as_identity(plane: ControlPlane, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl with another identity's kubeconfig."""
    return plane.kubectl("--kubeconfig", str(kubeconfig), *args, check=False)


def install_chart_rbac(
    plane: ControlPlane, logs: Path, namespace: str, cluster_rbac: list[str], *values: str
) -> tuple[list[dict[str, Any]], Path]:
    """The chart's RBAC objects and admission policy as `helm template` renders them for a release in
    ``namespace`` (with the credentials Secret), applied; and a kubeconfig with a token of its
    ServiceAccount. The cluster-scoped objects are added to ``cluster_rbac`` ("kind/name") to delete."""
    release = f"r{secrets.token_hex(3)}"
    rendered = [
        o
        for o in render_objects(
            f"credentials.existingSecret={SECRET_NAME}", *values, release=release, namespace=namespace
        )
        if o["kind"] in RBAC_KINDS | ADMISSION_KINDS
    ]
    for obj in rendered:  # each into its own namespace (watched namespaces' Roles), else the release's
        if not (obj["kind"].startswith("Cluster") or obj["kind"] in ADMISSION_KINDS):
            obj["metadata"].setdefault("namespace", namespace)
    plane.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": rendered}))
    cluster_rbac += [
        f"{o['kind'].lower()}/{o['metadata']['name']}"
        for o in rendered
        if o["kind"].startswith("Cluster") or o["kind"] in ADMISSION_KINDS
    ]
    account = next(o for o in rendered if o["kind"] == "ServiceAccount")["metadata"]["name"]
    minted = plane.kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    kubeconfig = kubeconfig_for(plane, logs / f"kubeconfig-{namespace}-{account}", account, minted)
    who = as_identity(plane, kubeconfig, "auth", "whoami", "-o", "json")
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:{account}"
    return rendered, kubeconfig

"""Helpers for the tests of what ships to clusters: the Helm chart, deploy/ and the CRD copies.

``helm`` and ``kubectl`` are the cached binaries of vmop.dev.binaries (built on first use), run
without a cluster for rendering; tests against the control plane use its own ``.helm``/``.kubectl``.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from vmop.dev.binaries import Binaries, ensure_binaries

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "vmop"
CHART_CRDS = CHART / "crds"
CRDS = REPO / "crds"
DEPLOY = REPO / "deploy"
ARGOCD = DEPLOY / "argocd"
CI_VALUES = CHART / "ci"
COMPUTE_URL = "https://hci.example.com"

Manifest = dict[str, Any]


@functools.cache
def binaries() -> Binaries:
    return ensure_binaries()


def run_tool(tool: str, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``helm`` or ``kubectl`` without any cluster (no KUBECONFIG), for rendering only."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    cmd = [str(binaries().path(tool)), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def documents(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def helm_args(*, release: str = "vmop", namespace: str = "vmop-system", values: Iterable[str] = ()) -> list[str]:
    """Arguments for ``helm template``/``install``: release, chart, namespace and ``--set``s."""
    args = [release, str(CHART), "--namespace", namespace]
    for value in values:
        args += ["--set", value]
    return args


def render(*values: str, release: str = "vmop", namespace: str = "vmop-system", extra: Iterable[str] = ()) -> str:
    """``helm template`` with compute.url set (the one required value) plus ``values``."""
    args = helm_args(release=release, namespace=namespace, values=(f"compute.url={COMPUTE_URL}", *values))
    return run_tool("helm", "template", *args, *extra).stdout


def render_objects(
    *values: str, release: str = "vmop", namespace: str = "vmop-system", extra: Iterable[str] = ()
) -> list[Manifest]:
    return documents(render(*values, release=release, namespace=namespace, extra=extra))


def by_kind(objects: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [o for o in by_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def container(objects: Iterable[Manifest]) -> Manifest:
    """The operator's container, of its Deployment or (with shards) its StatefulSet."""
    objects = list(objects)
    (workload,) = by_kind(objects, "Deployment") + by_kind(objects, "StatefulSet")
    (operator,) = workload["spec"]["template"]["spec"]["containers"]
    assert isinstance(operator, dict)
    return operator


def crd_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.yaml"))}


ARGOCD_KINDS = {
    "virtualmachine": "VirtualMachine",
    "vmgroup": "VmGroup",
    "vmmigration": "VmMigration",
    "vmpool": "VmPool",
}
ARGOCD_CM_PATCH_HEADER = """\
# Argo CD health checks for vmop's kinds: a patch of Argo CD's argocd-cm ConfigMap.
# The Lua is health/*.lua verbatim; regenerate this file with `python -m tests.support.deploy`
# (tests/unit/test_argocd_health.py checks it and runs the Lua). Apply it with the kustomize
# component in this folder (components: [<path or URL>/deploy/argocd]), as a patch in your own
# Argo CD kustomization, or with
#   kubectl -n argocd patch configmap argocd-cm --patch-file deploy/argocd/argocd-cm-patch.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
data:
"""


def health_script(folder: str) -> str:
    return (ARGOCD / "health" / f"{folder}.lua").read_text()


def argocd_cm_patch() -> str:
    """deploy/argocd/argocd-cm-patch.yaml as it must read: every health/*.lua under its key."""
    lines = [ARGOCD_CM_PATCH_HEADER.rstrip("\n")]
    for folder, kind in ARGOCD_KINDS.items():
        lines.append(f"  resource.customizations.health.vmop.io_{kind}: |")
        lines += [f"    {line}" if line else "" for line in health_script(folder).splitlines()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    (ARGOCD / "argocd-cm-patch.yaml").write_text(argocd_cm_patch())
    print(ARGOCD / "argocd-cm-patch.yaml")

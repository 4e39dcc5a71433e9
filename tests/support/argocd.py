"""Argo CD's own health code over vmop's objects: tools/argocd-health, a small Go program on Argo CD's
util/settings, util/lua and gitops-engine health (the application controller's path), built once
from Go modules into ``~/.cache/vmop/argocd-health-<Argo CD version>-<source digest>/`` the way
vmop.dev.binaries builds Kubernetes, by the first test that needs it. See docs/development.md.

Fixtures and live objects (``kubectl get -o json``) go through the same call, so what the tests
check is what an Argo CD with deploy/argocd/argocd-cm-patch.yaml shows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from tests.support.deploy import ARGOCD, REPO
from tests.support.processes import Kube, wait_for
from vmop.dev.binaries import BuildError, build_lock, cache_root, go_env, run_step

SOURCE = REPO / "tools" / "argocd-health"
SOURCE_FILES = ("go.mod", "go.sum", "main.go")
ARGOCD_CM_PATCH = ARGOCD / "argocd-cm-patch.yaml"


class Health(TypedDict):
    """What Argo CD shows for a resource; ``error`` when Argo CD reports one (it shows Unknown)."""

    status: str
    message: str
    error: NotRequired[str]


def argocd_version() -> str:
    """The Argo CD release whose code the helper runs: the one its go.mod requires."""
    found = re.search(r"^\s*github\.com/argoproj/argo-cd/v3 (v\S+)", (SOURCE / "go.mod").read_text(), re.MULTILINE)
    if not found:
        raise BuildError(f"{SOURCE / 'go.mod'} requires no github.com/argoproj/argo-cd/v3")
    return found.group(1)


def cache_dir() -> Path:
    """Keyed by the sources, so an Argo CD bump or a change to main.go rebuilds."""
    digest = hashlib.sha256(b"\0".join((SOURCE / name).read_bytes() for name in SOURCE_FILES)).hexdigest()[:12]
    return cache_root() / f"argocd-health-{argocd_version()}-{digest}"


def _build(binary: Path) -> None:
    log = binary.parent / "build.log"
    print(
        f"vmop: building {binary.name} (Argo CD {argocd_version()}'s health code) from Go modules "
        f"(first time only, about 3-8 min; log: {log})",
        file=sys.stderr,
    )
    # Argo CD's go.mod asks for a newer Go than the machine may have: the toolchain go.mod names is
    # fetched from the Go module proxy. go.sum is in the repo: the modules are the ones pinned.
    env = go_env() | {"GOTOOLCHAIN": "auto", "GOFLAGS": "-mod=readonly -buildvcs=false"}
    with tempfile.TemporaryDirectory(dir=binary.parent) as staging:
        staged = Path(staging) / binary.name
        cmd = ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(staged), "."]
        run_step(cmd, SOURCE, log, f"build {binary.name}", env=env)
        os.replace(staged, binary)  # atomic: a half-built binary is never seen


@functools.cache
def ensure_argocd_health() -> Path:
    """The helper's path, built first if the cache lacks it."""
    binary = cache_dir() / "argocd-health"
    if os.access(binary, os.X_OK):
        return binary
    with build_lock(binary.parent):
        if not os.access(binary, os.X_OK):
            _build(binary)
    return binary


def argocd_health(objects: Sequence[dict[str, Any]], argocd_cm: Path = ARGOCD_CM_PATCH) -> list[Health]:
    """Argo CD's health of each object, with the health checks of the argocd-cm patch ``argocd_cm``."""
    proc = subprocess.run(
        [str(ensure_argocd_health()), "-argocd-cm", str(argocd_cm)],
        input=json.dumps(list(objects)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise AssertionError(f"argocd-health failed ({proc.returncode}): {proc.stderr}")
    healths: list[Health] = json.loads(proc.stdout)
    assert len(healths) == len(objects), proc.stdout
    return healths


def assert_live_health(kube: Kube, kind: str, name: str, expected: str, *, phase: str | None = None) -> Health:
    """The object as ``kubectl get -o json`` shows it (once its status.phase is ``phase``, if given)
    has Argo CD health ``expected``; returns the health for further checks."""

    def captured() -> dict[str, Any] | None:
        obj = kube.get(kind, name)
        if obj is None or (phase is not None and (obj.get("status") or {}).get("phase") != phase):
            return None
        return obj

    obj = wait_for(captured, timeout=30, what=f"{kind} {name} in phase {phase}")
    (health,) = argocd_health([obj])
    assert health["status"] == expected, f"{kind} {name}: {health}; status: {json.dumps(obj.get('status'))}"
    assert health["message"], "Argo CD shows the message: say something"
    return health

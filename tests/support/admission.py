"""The chart's finalizer policy (a MutatingAdmissionPolicy and its binding) for one namespace,
applied to the test control plane as `helm install` would, and removed again."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.deploy import documents, render
from vmop.dev.controlplane import ControlPlane

POLICY_API = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
POLICY_KINDS = {"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"}


@contextmanager
def chart_finalizer_policy(plane: ControlPlane, namespace: str) -> Iterator[list[str]]:
    """Yields the applied objects' names (kind/name)."""
    rendered = documents(
        render(
            f"watchNamespaces={{{namespace}}}",
            release=f"r{secrets.token_hex(3)}",
            namespace=namespace,
            extra=("--api-versions", POLICY_API),
        )
    )
    policy = [o for o in rendered if o["kind"] in POLICY_KINDS]
    applied = plane.kubectl(
        "apply", "-o", "name", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": policy})
    ).stdout.split()
    try:
        yield applied
    finally:
        plane.kubectl("delete", "--ignore-not-found", *applied, check=False)

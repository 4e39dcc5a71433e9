"""The MutatingAdmissionPolicy that puts vmop's finalizer on each VirtualMachine as it is created.

kopf adds its finalizer itself, but in a write of its own before any handler runs: at a thousand
VirtualMachines applied at once, one write (and one watch event back) in five per VM (bench/).
Added at admission, in the apiserver (CEL, no webhook to run), the finalizer is there when vmop
first sees the object, and kopf goes straight to the create handler. Without the policy (a
cluster before Kubernetes 1.36, or the policy not installed) kopf adds it as before.

Only VirtualMachines: VmGroups and VmMigrations are few, kopf's own write is fine for them.
Bound to the namespaces one vmop deployment watches (all, or a list): an object in a namespace
no vmop watches must not get a finalizer nobody removes.
"""

from __future__ import annotations

from typing import Any

from vmop.api import GROUP

FINALIZER = f"{GROUP}/finalizer"
API_VERSION = "admissionregistration.k8s.io/v1"


def finalizer_policy(name: str, namespaces: list[str] | None = None) -> list[dict[str, Any]]:
    """The policy and its binding; ``namespaces``: only these (None: every namespace)."""
    policy = {
        "apiVersion": API_VERSION,
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            # A policy that cannot run must not block creating VMs: kopf then adds the finalizer.
            "failurePolicy": "Ignore",
            "reinvocationPolicy": "Never",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": ["*"],
                        "operations": ["CREATE"],
                        "resources": ["virtualmachines"],
                    }
                ]
            },
            "matchConditions": [
                {
                    "name": "finalizer-missing",
                    "expression": "!has(object.metadata.finalizers) || "
                    f"!object.metadata.finalizers.exists(f, f == '{FINALIZER}')",
                }
            ],
            "mutations": [
                {
                    "patchType": "ApplyConfiguration",
                    # metadata.finalizers is a set: the apply adds ours beside any others.
                    "applyConfiguration": {
                        "expression": f"Object{{metadata: Object.metadata{{finalizers: ['{FINALIZER}']}}}}"
                    },
                }
            ],
        },
    }
    binding_spec: dict[str, Any] = {"policyName": name}
    if namespaces is not None:
        binding_spec["matchResources"] = {
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(namespaces)}
                ]
            }
        }
    binding = {
        "apiVersion": API_VERSION,
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": binding_spec,
    }
    return [policy, binding]

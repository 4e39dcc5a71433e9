"""Which platform an object lives on, and whether it may (pure: no I/O).

An object's provider is its ``spec.providerRef``, else the one ComputeProvider marked default,
else vmop's own platform (its flags, ``OWN``). A provider that does not allow the object's
namespace, one that does not exist, two marked default, or a provider other than the one the
object's platform objects were made on: each is a ``Refusal``, and nothing is called anywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vmop.api.computeprovider import AllowedNamespaces, ComputeProviderSpec, MatchExpression, NamespaceSelector
from vmop.api.conditions import READY, SYNCED, Condition, Reason
from vmop.compute.reach import Reach
from vmop.reconcile.conditions import set_condition
from vmop.reconcile.status import last_error, rfc3339

OWN = ""  # vmop's own platform (--compute-url), as status.provider records it


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


def provider_ref(spec: Mapping[str, Any]) -> str | None:
    name = (spec.get("providerRef") or {}).get("name")
    return str(name) if name else None


def choose(ref: str | None, defaults: list[str], known: bool, *, enabled: bool) -> str | Refusal:
    """The provider's name (OWN: vmop's flags). ``defaults``: the providers marked default;
    ``known``: whether ``ref`` names an existing provider."""
    if ref is not None:
        if not enabled:
            return Refusal(Reason.PROVIDER_NOT_FOUND, f"providerRef {ref}: this vmop runs with --no-compute-providers")
        return ref if known else Refusal(Reason.PROVIDER_NOT_FOUND, f"ComputeProvider {ref} does not exist")
    if len(defaults) > 1:
        return Refusal(
            Reason.PROVIDER_AMBIGUOUS,
            f"no providerRef, and ComputeProviders {', '.join(sorted(defaults))} are all marked default",
        )
    return defaults[0] if defaults else OWN


def kept(recorded: str | None, chosen: str) -> Refusal | None:
    """``recorded``: status.provider, the provider the object's platform objects were made on. A
    different one now (another provider marked default) would take the VM for lost and make it
    again elsewhere: refused instead."""
    if recorded is None or recorded == chosen:
        return None
    return Refusal(
        Reason.PROVIDER_MISMATCH,
        f"this object lives on {describe(recorded)}, but its provider is now {describe(chosen)}: "
        "set spec.providerRef to the first, or mark it default again",
    )


def mismatch(migration: str, vm: str) -> Refusal | None:
    """A migration runs on its VM's own platform: the doc has no migration between endpoints."""
    if migration == vm:
        return None
    return Refusal(
        Reason.PROVIDER_MISMATCH,
        f"the migration is on {describe(migration)} but its VirtualMachine on {describe(vm)}: "
        "the compute API migrates only within one endpoint",
    )


def describe(provider: str) -> str:
    return f"ComputeProvider {provider}" if provider != OWN else "vmop's own platform (--compute-url)"


# ------------------------------------------------------------ namespaces


def needs_labels(allowed: AllowedNamespaces | None) -> bool:
    """Whether deciding needs the namespace's labels (a read): only a selector does."""
    return allowed is not None and allowed.selector is not None


def _expression_holds(expression: MatchExpression, labels: Mapping[str, str]) -> bool:
    values = set(expression.values or ())
    if expression.operator == "In":
        return labels.get(expression.key) in values
    if expression.operator == "NotIn":
        return labels.get(expression.key) not in values
    if expression.operator == "Exists":
        return expression.key in labels
    return expression.key not in labels


def selector_matches(selector: NamespaceSelector, labels: Mapping[str, str]) -> bool:
    """As Kubernetes label selectors: every label and every expression must hold (an empty
    selector matches every namespace)."""
    return all(labels.get(key) == value for key, value in (selector.match_labels or {}).items()) and all(
        _expression_holds(expression, labels) for expression in selector.match_expressions or ()
    )


def namespace_allowed(allowed: AllowedNamespaces | None, namespace: str, labels: Mapping[str, str] | None) -> bool:
    """Unset: every namespace; else those named, and those the selector matches. ``labels``: the
    namespace's, needed only with a selector (None: not read, or the namespace is not there)."""
    if allowed is None:
        return True
    if namespace in (allowed.names or ()):
        return True
    return allowed.selector is not None and labels is not None and selector_matches(allowed.selector, labels)


def not_allowed(provider: str, namespace: str) -> Refusal:
    return Refusal(
        Reason.PROVIDER_NOT_ALLOWED,
        f"ComputeProvider {provider} does not allow namespace {namespace} (its spec.allowedNamespaces)",
    )


# ------------------------------------------------------------ the platform's client


def digest(spec: ComputeProviderSpec, secret: Mapping[str, str]) -> str:
    """SHA-256 over what a provider's client is built from: the spec and the Secret's values. Equal
    digests: the client stands; another: it is built again (credentials rotated without a restart).
    Kept in memory only, never shown."""
    material = json.dumps(
        {"spec": spec.model_dump(mode="json", by_alias=True), "secret": dict(sorted(secret.items()))},
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


# ------------------------------------------------------------ status


def refused_status(
    status: Mapping[str, Any], refusal: Refusal, *, now: float, generation: int
) -> dict[str, Any] | None:
    """The status patch of an object refused (Synced=False with the refusal's reason); None when it
    says so already."""
    conditions = [Condition.model_validate(c) for c in status.get("conditions") or []]
    updated = set_condition(
        conditions, SYNCED, False, refusal.reason, refusal.message, now=rfc3339(now), generation=generation
    )
    if updated == conditions:
        return None
    return {"conditions": [c.model_dump(by_alias=True) for c in updated]}


def provider_status(
    previous: Mapping[str, Any],
    reach: Reach | Refusal,
    users: list[str],
    *,
    deleting: bool,
    generation: int,
    now: float,
) -> dict[str, Any]:
    """A ComputeProvider's status after a look at its platform (or a Refusal: its Secret unusable).
    Ready: reachable and authenticated, and not being deleted while in use."""
    conditions = [Condition.model_validate(c) for c in previous.get("conditions") or []]
    status: dict[str, Any] = {"observedGeneration": generation, "inUseBy": users if deleting else None}
    if isinstance(reach, Refusal):
        ready, reason, message = False, reach.reason, reach.message
        status |= {"reachable": None, "authenticated": None, "lastError": None}
    else:
        status |= {
            "reachable": reach.reachable,
            "authenticated": reach.authenticated,
            "lastError": last_error(reach.error, now).model_dump(by_alias=True) if reach.error else None,
        }
        if reach.reachable and reach.authenticated:
            status |= {"clusters": list(reach.clusters), "tenants": list(reach.tenants)}
        ready, reason, message = _readiness(reach)
    if deleting and users:
        ready, reason = False, Reason.IN_USE
        message = f"waiting to be deleted: still used by {', '.join(users)}"
    updated = set_condition(conditions, READY, ready, reason, message, now=rfc3339(now), generation=generation)
    status["conditions"] = [c.model_dump(by_alias=True) for c in updated]
    return status


def _readiness(reach: Reach) -> tuple[bool, str, str]:
    if not reach.reachable:
        return False, Reason.UNAVAILABLE, f"the platform does not answer: {reach.error}"
    if not reach.authenticated:
        return False, Reason.AUTHENTICATION_FAILED, f"the platform refused the credentials: {reach.error}"
    if reach.error is not None:
        return False, Reason.COMPUTE_ERROR, str(reach.error)
    return True, Reason.AVAILABLE, "the platform answers and takes the credentials"

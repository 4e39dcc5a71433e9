"""ComputeProvider (vmop.io/v1alpha1, cluster-scoped): one HCI platform's compute API, the
credentials to call it with, and the namespaces whose objects may use it.

VirtualMachines, VmGroups and VmMigrations name one in ``spec.providerRef``; without one they use
the provider marked ``default``, else the platform of vmop's own flags (``--compute-url``,
``--credentials-secret``): a setup without ComputeProviders works as before.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from vmop.api.base import FORBIDDEN, IMMUTABLE, LABEL_VALUE_PATTERN, ApiModel, cel, validations
from vmop.api.conditions import Condition, LastError
from vmop.compute.profile import PageParam

# A DNS-1123 subdomain: what Kubernetes accepts as a cluster-scoped object's name.
PROVIDER_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
SECRET_NAME_PATTERN = PROVIDER_NAME_PATTERN  # a DNS-1123 subdomain too
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"  # a DNS-1123 label

LabelKey = Annotated[str, Field(min_length=1, max_length=317)]
LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]
NamespaceName = Annotated[str, Field(max_length=63, pattern=NAMESPACE_PATTERN)]
Scode = Annotated[int, Field(ge=0)]


class ProviderRef(ApiModel):
    """Which ComputeProvider's platform an object lives on."""

    name: str = Field(
        min_length=1, max_length=253, pattern=PROVIDER_NAME_PATTERN, description="a ComputeProvider (cluster-scoped)"
    )


def provider_ref_field() -> Any:
    """``spec.providerRef`` of the kinds that live on a platform: fixed once the object exists
    (there is no moving an object to another platform: the doc has no cross-endpoint migration)."""
    return Field(
        default=None,
        description="the ComputeProvider whose platform this lives on; unset: the provider marked default, "
        "else vmop's own --compute-url",
        json_schema_extra=validations(IMMUTABLE),
    )


def recorded_provider_field() -> Any:
    """``status.provider``: where the object's platform objects were made, so that marking another
    provider default later cannot take them for lost and make them again elsewhere."""
    return Field(
        default=None,
        description="the ComputeProvider this object's platform objects were made on; empty: vmop's own --compute-url",
    )


# `self == oldSelf` on an optional field runs only when old and new both have it: adding or removing
# providerRef is caught by this rule, at the spec's level.
PROVIDER_REF_FIXED = cel(
    "has(self.providerRef) == has(oldSelf.providerRef)",
    "providerRef is immutable",
    field_path=".providerRef",
    reason=FORBIDDEN,
)


class ProviderSecretRef(ApiModel):
    """The credentials, in a Secret of vmop's provider secrets namespace (--provider-secrets-namespace,
    by default vmop's own): keys ``token``, or ``username`` and ``password``; ``ca.crt`` optional."""

    name: str = Field(min_length=1, max_length=253, pattern=SECRET_NAME_PATTERN, description="the Secret's name")


class ProviderTls(ApiModel):
    """How the platform's certificate is checked (the CA is the Secret's ``ca.crt``, else the system's)."""

    insecure_skip_verify: bool = Field(default=False, description="do not verify the platform's TLS (labs only)")


class ProviderProfile(ApiModel):
    """The platform's answers where the compute doc is silent (docs/platform-assumptions.md; `vmop probe`
    suggests them). Unset fields keep vmop's defaults (operator/vmop/compute/profile.py)."""

    not_found_scodes: list[Scode] | None = Field(default=None, description="refusals meaning the VM does not exist")
    busy_scodes: list[Scode] | None = Field(default=None, description="refusals meaning the VM or platform is busy")
    agent_missing_scodes: list[Scode] | None = Field(
        default=None, description="refusals meaning the guest agent has not connected yet"
    )
    page_params: list[PageParam] | None = Field(
        default=None, min_length=1, description="the paging parameter names sent with list"
    )


class MatchExpression(ApiModel):
    """One requirement on a namespace's labels, as a Kubernetes label selector has them."""

    key: LabelKey = Field(description="the label")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(description="In, NotIn, Exists, DoesNotExist")
    values: list[LabelValue] | None = Field(default=None, description="for In and NotIn")


class NamespaceSelector(ApiModel):
    """A label selector on namespaces: every requirement must hold."""

    match_labels: dict[str, LabelValue] | None = Field(default=None, description="labels the namespace has")
    match_expressions: list[MatchExpression] | None = Field(default=None, description="requirements on its labels")


class AllowedNamespaces(ApiModel):
    """Which namespaces' objects may use the provider: those named, and those the selector matches.
    Unset: every namespace. Set but empty: none."""

    names: list[NamespaceName] | None = Field(default=None, description="namespaces by name")
    selector: NamespaceSelector | None = Field(
        default=None, description="namespaces by label (vmop reads the namespace's labels: get on namespaces)"
    )


class ComputeProviderSpec(ApiModel):
    """One platform and how to reach it. vmop never writes here."""

    url: str = Field(
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="the compute API base URL, e.g. https://hci.example or http://127.0.0.1:8900",
    )
    secret_ref: ProviderSecretRef | None = Field(
        default=None, description="the credentials Secret; unset: a compute API without authentication"
    )
    tls: ProviderTls = Field(default_factory=ProviderTls, json_schema_extra={"default": {}})
    profile: ProviderProfile = Field(default_factory=ProviderProfile, json_schema_extra={"default": {}})
    max_concurrency: int = Field(default=16, ge=1, le=1024, description="compute API requests in flight")
    page_size: int = Field(default=500, ge=0, description="list page size; 0: one unpaged list (the doc: <= 0)")
    allowed_namespaces: AllowedNamespaces | None = Field(
        default=None, description="the namespaces whose objects may use this provider; unset: all"
    )
    default: bool = Field(
        default=False,
        description="objects without spec.providerRef use this provider (at most one may be marked; two: "
        "such objects are refused, ProviderAmbiguous)",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.tls) || !self.tls.insecureSkipVerify || self.url.startsWith('https://')",
                "tls.insecureSkipVerify needs an https:// url",
                field_path=".tls.insecureSkipVerify",
            ),
        )
    }


class ComputeProviderStatus(ApiModel):
    """What vmop's last look at the platform found."""

    observed_generation: int | None = Field(default=None, description="the .metadata.generation this status is for")
    reachable: bool | None = Field(default=None, description="the platform answered (whatever it said)")
    authenticated: bool | None = Field(
        default=None, description="it accepted the credentials; empty while it cannot be reached"
    )
    clusters: list[str] | None = Field(default=None, description="the platform's cluster uuids (group/tree)")
    tenants: list[str] | None = Field(default=None, description="the platform's tenant uuids (group/tree)")
    in_use_by: list[str] | None = Field(
        default=None, description="while being deleted: the objects (Kind namespace/name) that still use it"
    )
    conditions: list[Condition] | None = Field(default=None, description="Ready")
    last_error: LastError | None = None

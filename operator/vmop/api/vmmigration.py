"""VmMigration (vmop.io/v1alpha1): move one VirtualMachine's VM to another host (migrate) or another
cluster (cross_cluster_migrate), once. A finished VmMigration is history: nothing is called again.

Conditions, as a Job has them: ``Complete`` (True only once the phase is Succeeded; while False its
reason says what the migration waits for, or how it ended), ``Failed`` (set, True, only once the
phase is Failed or Aborted: the VM did not move) and ``Synced`` (False while the platform cannot be
read or refused the last call; lastError then has its words). A pipeline waits for either of
``kubectl wait --for=condition=Complete`` and ``--for=condition=Failed``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vmop.api.base import FORBIDDEN, IMMUTABLE, UUID_PATTERN, ApiModel, cel, validations
from vmop.api.computeprovider import PROVIDER_REF_FIXED, ProviderRef, provider_ref_field
from vmop.api.conditions import Condition, LastError

COMPLETE = "Complete"
FAILED = "Failed"  # the condition; also the phase of the same name
DEFAULT_TIMEOUT_SECONDS = 1800
# IPv4 or IPv6: the pattern keeps junk out cheaply, CEL's isIP checks the address.
HOST_IP_PATTERN = r"^[0-9A-Fa-f.:]{2,45}$"


class VmRef(ApiModel):
    name: str = Field(min_length=1, max_length=253, description="a VirtualMachine in the same namespace")


class CrossCluster(ApiModel):
    """The destination of a cross-cluster migration (cross_cluster_migrate); the platform needs all."""

    cluster: str = Field(pattern=UUID_PATTERN, max_length=64, description="destination cluster uuid")
    host_uuid: str = Field(pattern=UUID_PATTERN, max_length=64, description="destination host uuid")
    host_ip: str = Field(
        pattern=HOST_IP_PATTERN,
        max_length=45,
        description="destination host ip; the VM's host must reach it",
        json_schema_extra=validations(cel("isIP(self)", "hostIp must be an IPv4 or IPv6 address")),
    )
    tenant: str = Field(pattern=UUID_PATTERN, max_length=64, description="destination tenant uuid")
    pool: str = Field(pattern=UUID_PATTERN, max_length=64, description="storage pool for the new volumes")
    zone: str = Field(pattern=UUID_PATTERN, max_length=64, description="resource pool (zone) uuid")
    group: str = Field(pattern=UUID_PATTERN, max_length=64, description="VM group uuid in the destination")


class VmMigrationSpec(ApiModel):
    """One migration of one VM. Everything but cancel is fixed once the object exists."""

    vm_ref: VmRef = Field(description="the VirtualMachine to migrate", json_schema_extra=validations(IMMUTABLE))
    host: str | None = Field(
        default=None,
        pattern=UUID_PATTERN,
        max_length=64,
        description="destination host uuid in the VM's own cluster (migrate)",
        json_schema_extra=validations(IMMUTABLE),
    )
    cross_cluster: CrossCluster | None = Field(
        default=None,
        description="destination in another cluster (cross_cluster_migrate)",
        json_schema_extra=validations(IMMUTABLE),
    )
    timeout_seconds: int = Field(
        default=DEFAULT_TIMEOUT_SECONDS,
        ge=1,
        le=7 * 86400,
        description="a migration running longer is aborted and fails",
        json_schema_extra=validations(IMMUTABLE),
    )
    cancel: bool = Field(
        default=False,
        description="true aborts a running migration (or drops a pending one); cannot be set back to false",
        json_schema_extra=validations(cel("self || !oldSelf", "cancel cannot be set back to false")),
    )
    provider_ref: ProviderRef | None = provider_ref_field()

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            PROVIDER_REF_FIXED,
            cel("has(self.host) != has(self.crossCluster)", "set exactly one of host or crossCluster"),
            # `self == oldSelf` on an optional field runs only when old and new both have it, so
            # adding or removing one is caught here.
            cel("has(self.host) == has(oldSelf.host)", "host is immutable", field_path=".host", reason=FORBIDDEN),
            cel(
                "has(self.crossCluster) == has(oldSelf.crossCluster)",
                "crossCluster is immutable",
                field_path=".crossCluster",
                reason=FORBIDDEN,
            ),
        )
    }


Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Aborted"]
FINISHED: frozenset[str] = frozenset({"Succeeded", "Failed", "Aborted"})
UNSUCCESSFUL: frozenset[str] = frozenset({"Failed", "Aborted"})  # final, and the VM did not move


class Location(ApiModel):
    """A place on the platform."""

    cluster: str | None = Field(default=None, description="cluster uuid")
    tenant: str | None = Field(default=None, description="tenant uuid")
    host: str | None = Field(default=None, description="host uuid")


class VmMigrationStatus(ApiModel):
    """How the migration goes. Phases: Pending -> Running -> Succeeded | Failed | Aborted."""

    observed_generation: int | None = Field(default=None, description="the .metadata.generation this status is for")
    phase: Phase | None = Field(default=None, description="Succeeded, Failed and Aborted are final")
    progress: int | None = Field(default=None, ge=0, le=100, description="percent; never decreases")
    vm_uuid: str | None = Field(default=None, description="the platform VM being migrated")
    source: Location | None = Field(default=None, description="where the VM was when the migration started")
    destination: Location | None = Field(default=None, description="where it is going (where it went, once done)")
    start_time: str | None = Field(default=None, description="when vmop asked the platform to migrate (RFC 3339)")
    completion_time: str | None = Field(default=None, description="when it finished (RFC 3339)")
    message: str | None = Field(default=None, description="what it waits for, does, or how it ended")
    conditions: list[Condition] | None = Field(
        default=None,
        description="Complete: True only once it succeeded, else its reason says what it waits for or how it "
        "ended; Failed: present, True, once it failed or was aborted; "
        "Synced: False while the platform cannot be read or refused the last call",
    )
    last_error: LastError | None = None

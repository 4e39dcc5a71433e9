"""VmGroup (vmop.io/v1alpha1): a VM group (分组) on the platform, nested up to five deep."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vmop.api.base import FORBIDDEN, IMMUTABLE, PRINTABLE, UUID_PATTERN, ApiModel, cel, validations
from vmop.api.computeprovider import PROVIDER_REF_FIXED, ProviderRef, provider_ref_field, recorded_provider_field
from vmop.api.conditions import Condition, LastError
from vmop.compute.rules import GROUP_MAX_DEPTH


class ParentRef(ApiModel):
    name: str = Field(max_length=253, description="another VmGroup in the same namespace")


class GroupAdopt(ApiModel):
    """Take over a group that already exists on the platform instead of creating one."""

    uuid: str = Field(pattern=UUID_PATTERN, max_length=64, description="an existing group's uuid to take over")


class VmGroupSpec(ApiModel):
    """The group as it should be. vmop never writes here."""

    cluster: str = Field(
        pattern=UUID_PATTERN,
        max_length=64,
        description="platform cluster uuid",
        json_schema_extra=validations(IMMUTABLE),
    )
    tenant: str = Field(
        pattern=UUID_PATTERN,
        max_length=64,
        description="platform tenant uuid",
        json_schema_extra=validations(IMMUTABLE),
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="name on the platform (unique among siblings); defaults to metadata.name",
        json_schema_extra=validations(PRINTABLE),
    )
    parent_ref: ParentRef | None = Field(default=None, description="nest under this VmGroup; unset: top level")
    parent: str | None = Field(
        default=None, pattern=UUID_PATTERN, max_length=64, description="nest under this raw platform group uuid"
    )
    adopt: GroupAdopt | None = Field(
        default=None, description="take over an existing group", json_schema_extra=validations(IMMUTABLE)
    )
    deletion_policy: Literal["Delete", "Retain"] = Field(
        default="Delete", description="Delete removes the group (only once no VM is inside); Retain leaves it"
    )
    provider_ref: ProviderRef | None = provider_ref_field()

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            PROVIDER_REF_FIXED,
            cel(
                "!(has(self.parentRef) && has(self.parent))",
                "set parentRef or parent, not both",
                field_path=".parent",
                reason=FORBIDDEN,
            ),
            cel(
                "!has(self.name) || self.name != 'default'",
                "the name default is the platform's own group",
                field_path=".name",
            ),
        )
    }


class VmGroupStatus(ApiModel):
    """What vmop sees of the group on the platform, and how reconciling went."""

    observed_generation: int | None = Field(default=None, description="the .metadata.generation this status is for")
    phase: Literal["Pending", "Ready", "Deleting", "Failed", "Conflict"] | None = Field(
        default=None, description="Pending (waiting, e.g. for a parent), Ready, Deleting, Failed, Conflict"
    )
    uuid: str | None = Field(default=None, description="the group's uuid on the platform")
    provider: str | None = recorded_provider_field()
    name: str | None = Field(default=None, description="name on the platform")
    parent: str | None = Field(default=None, description="parent group uuid; empty at top level")
    depth: int | None = Field(default=None, ge=1, le=GROUP_MAX_DEPTH, description="1 at the top level")
    vm_count: int | None = Field(default=None, description="VMs directly in this group (the platform's RefCount)")
    blocking_vms: list[str] | None = Field(default=None, description="VMs that keep the group from being deleted")
    conditions: list[Condition] | None = Field(default=None, description="Ready, Synced")
    last_error: LastError | None = None
    create_pending_since: str | None = Field(default=None, description="a create was sent at this time (RFC 3339)")

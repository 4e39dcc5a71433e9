"""VmPool (vmop.io/v1alpha1): N alike VirtualMachines, scaled like a Deployment.

vmop makes the pool's VMs as VirtualMachine objects it owns (ownerReferences, controller), so
every VirtualMachine behaviour (crash safety, status, deletion policy) is theirs: the pool never
calls the platform itself. ``kubectl scale vmpool/NAME --replicas=N`` and a HorizontalPodAutoscaler
use the scale subresource.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema, field_validator

from vmop.api.base import FORBIDDEN, IMMUTABLE, LABEL_VALUE_PATTERN, ApiModel, cel, validations
from vmop.api.conditions import Condition
from vmop.api.virtualmachine import VirtualMachineSpec

MAX_REPLICAS = 1000
PERCENT_PATTERN = r"^(100|[1-9]?[0-9])%$"
MAX_UNAVAILABLE_RULE = "maxUnavailable must be an integer >= 1 or a percentage from 1% to 100%"
PROGRESSING = "Progressing"

Labels = Annotated[
    dict[str, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]],
    Field(max_length=64),
]

MaxUnavailable = Annotated[
    int | str,
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "description": "how many VMs a rollout of a change that needs a restart may take out of Ready at "
            "once: a number, or a percentage of replicas (rounded down, at least 1)",
            "default": 1,
            "x-kubernetes-validations": [
                cel(
                    f"type(self) == int ? self >= 1 : self.matches('{PERCENT_PATTERN}') && self != '0%'",
                    MAX_UNAVAILABLE_RULE,
                )
            ],
        }
    ),
]


class TemplateMetadata(ApiModel):
    """What every VM of the pool carries in its metadata."""

    labels: Labels | None = Field(default=None, description="labels of every VM; must include the selector's")


class VmPoolTemplate(ApiModel):
    """The VirtualMachine every replica is made from."""

    metadata: TemplateMetadata = Field(default_factory=TemplateMetadata, json_schema_extra={"default": {}})
    spec: VirtualMachineSpec = Field(description="a VirtualMachine spec; each VM takes its own name from the pool")

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.spec.name)",
                "template.spec.name cannot be set: each VM of a pool has its own name (the VM object's)",
                field_path=".spec.name",
                reason=FORBIDDEN,
            ),
            cel(
                "!has(self.spec.adopt)",
                "template.spec.adopt cannot be set: a pool makes its VMs",
                field_path=".spec.adopt",
                reason=FORBIDDEN,
            ),
            cel(
                "self.spec.disks.all(d, !has(d.volume))",
                "template disks cannot name an existing volume: one volume cannot be every VM's",
                field_path=".spec.disks",
                reason=FORBIDDEN,
            ),
            cel(
                "self.spec.interfaces.all(i, !has(i.mac) && !has(i.boundIp))",
                "template interfaces cannot set mac or boundIp: every VM would have the same",
                field_path=".spec.interfaces",
                reason=FORBIDDEN,
            ),
            cel(
                "(!has(self.spec.pci) || self.spec.pci.size() == 0) && "
                "(!has(self.spec.mdev) || self.spec.mdev.size() == 0)",
                "template pci and mdev devices cannot be set: one host device cannot be every VM's",
                field_path=".spec.pci",
                reason=FORBIDDEN,
            ),
        )
    }


class LabelSelector(ApiModel):
    """Which VirtualMachines are the pool's (with its ownerReference): labels they all carry."""

    match_labels: Labels = Field(min_length=1, description="labels every VM of the pool has")


class RollingUpdate(ApiModel):
    """How fast RollingUpdate goes."""

    max_unavailable: MaxUnavailable = 1

    @field_validator("max_unavailable")
    @classmethod
    def _valid(cls, value: int | str) -> int | str:
        """The CEL rule again, for objects stored before it existed."""
        if isinstance(value, int) and value >= 1:
            return value
        if isinstance(value, str) and re.match(PERCENT_PATTERN, value) and value != "0%":
            return value
        raise ValueError(MAX_UNAVAILABLE_RULE)


class UpdateStrategy(ApiModel):
    """How a changed template reaches the VMs that exist. Changes a running VM takes in place (see
    docs/operations.md) are written to every VM at once under RollingUpdate; changes that need a
    restart go to at most maxUnavailable VMs at a time, each restarted (updatePolicy Restart) and
    Ready again before the next; changes no VM can take in place replace VMs, as few at a time."""

    type: Literal["RollingUpdate", "OnDelete"] = Field(
        default="RollingUpdate",
        description="RollingUpdate; or OnDelete: existing VMs are never changed, only new ones get the template",
    )
    rolling_update: RollingUpdate = Field(default_factory=RollingUpdate, json_schema_extra={"default": {}})


class VmPoolSpec(ApiModel):
    """The pool as it should be. vmop never writes here."""

    replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS, description="how many VMs")
    selector: LabelSelector = Field(description="which VMs are the pool's", json_schema_extra=validations(IMMUTABLE))
    template: VmPoolTemplate
    update_strategy: UpdateStrategy = Field(default_factory=UpdateStrategy, json_schema_extra={"default": {}})

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.selector.matchLabels.all(k, has(self.template.metadata.labels) && "
                "k in self.template.metadata.labels && "
                "self.template.metadata.labels[k] == self.selector.matchLabels[k])",
                "template.metadata.labels must include every label of selector.matchLabels",
                field_path=".template.metadata.labels",
            ),
        )
    }


class VmPoolStatus(ApiModel):
    """The pool's VMs as their VirtualMachine objects report them."""

    observed_generation: int | None = Field(default=None, description="the .metadata.generation this status is for")
    replicas: int | None = Field(default=None, description="VMs of the pool, not being deleted")
    ready_replicas: int | None = Field(default=None, description="of them, Ready for their current spec")
    updated_replicas: int | None = Field(default=None, description="of them, made from or updated to the template")
    selector: str | None = Field(default=None, description="selector.matchLabels as a string (the scale subresource)")
    template_hash: str | None = Field(
        default=None, description="the template's hash, as the vmop.io/pool-template-hash label of updated VMs"
    )
    conditions: list[Condition] | None = Field(
        default=None, description="Ready: every replica Ready; Progressing: scaling or rolling out"
    )


def max_unavailable(value: int | str, replicas: int) -> int:
    """maxUnavailable as a count: a percentage of replicas, rounded down, at least 1."""
    if isinstance(value, int):
        return value
    return max(1, replicas * int(value.rstrip("%")) // 100)

"""How the simulator speaks where the compute doc leaves the platform's answer open.

The defaults are the simulator's historical behaviour (and vmop's default profile); every other
value is a reading the doc also allows, so tests can run vmop against a platform that answers
differently (docs/platform-assumptions.md). Applied to the finished JSON answer, in one place.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vmop.compute.profile import PageParam
from vmop.compute.scodes import Scode

RefusalData = Literal["null", "empty-string", "empty-object"]
_REFUSAL_DATA: dict[str, Any] = {"null": None, "empty-string": "", "empty-object": {}}

# Ints and bools of responses that --null-fields may send as null: the ones whose null the doc's
# examples show elsewhere and that vmop reads as "no information" (never a shape it would fix).
NULLABLE_FIELDS = frozenset(
    {
        "modify_time",
        "deleted_time",
        "total_count",
        "vnc_enable",
        "kvm_clock_enable",
        "memory_huge_pages_enable",
        "virt_nested_enable",
        "mem_max",
        "cpu_max_count",
        "heads",
        "ram_size",
        "vga_mem",
        "ratio",
        "physical",
        "redundancy",
    }
)
NULL_SHARE = 0.5  # of each candidate field's occurrences


class Dialect(BaseModel):
    """``vmop sim`` options of the same names (``--not-found-scode`` ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    not_found_scode: int = Field(default=Scode.VM_NOT_FOUND, description="refusal: the VM does not exist")
    busy_scode: int = Field(default=Scode.VM_ACTION_IN_PROGRESS, description="refusal: the VM has an action")
    agent_scode: int = Field(default=Scode.AGENT_NOT_CONNECTED, description="refusal: no guest agent")
    refusal_http_status: Literal[200, 400, 500] = Field(default=200, description="HTTP status of refusals")
    refusal_data: RefusalData = Field(default="null", description="what a refusal's data holds")
    page_param: PageParam = Field(default="page_number", description="the list paging parameter read")
    hibernated_as: Literal["shutoff-save", "pmsuspend"] = Field(
        default="shutoff-save", description="how a hibernated VM shows: state shutoff + action save, or pmsuspend"
    )
    null_fields: bool = Field(default=False, description="send random (seeded) nulls in optional ints and bools")
    # Readings of endpoints whose rules or fields the doc leaves open (sim/devices.py, sim/console.py).
    cloud_init_set_needs_shutoff: bool = Field(
        default=False, description="cloud_init/set only on a shut-off VM (the doc gives no state rule)"
    )
    cloud_init_user_data: Literal["object", "text"] = Field(
        default="object", description="the user_data cloud-init takes: an object (the doc's example) or a text"
    )
    balloon_needs_running: bool = Field(
        default=False, description="balloon/set only on a running VM (the doc gives no state rule)"
    )
    balloon_dropped_at_power_off: bool = Field(
        default=False, description="a VM's balloon is gone once it powers off (the doc does not say it is kept)"
    )
    video_edit_field: Literal["either", "video", "videos"] = Field(
        default="either",
        description="the field video/edit reads: video (the doc's text), videos (its example) or either",
    )
    memory_reserve_field: Literal["memory_reserve_enable", "cpu_reserve_enable"] = Field(
        default="memory_reserve_enable",
        description="the field memory/reserve reads: the doc's body and example, or its parameter list",
    )

    @property
    def hibernated(self) -> tuple[str, str]:
        return ("pmsuspend", "noaction") if self.hibernated_as == "pmsuspend" else ("shutoff", "save")

    @property
    def rewrites(self) -> bool:
        """Whether answers need rewriting at all (the default dialect costs nothing)."""
        return self.model_dump(exclude=_BEHAVIOUR) != Dialect().model_dump(exclude=_BEHAVIOUR)


# Options the simulated platform acts on (what it reads, what it allows), not rewrites of its answers.
_BEHAVIOUR = {
    "page_param",
    "hibernated_as",
    "cloud_init_set_needs_shutoff",
    "cloud_init_user_data",
    "balloon_needs_running",
    "balloon_dropped_at_power_off",
    "video_edit_field",
    "memory_reserve_field",
}


class Speaker:
    """Rewrites finished answers into the dialect; its random draws come from one seeded rng."""

    def __init__(self, dialect: Dialect, seed: int) -> None:
        self.dialect = dialect
        self.rewrites = dialect.rewrites
        self._rng = random.Random(seed)
        self._scodes = {
            Scode.VM_NOT_FOUND: dialect.not_found_scode,
            Scode.VM_ACTION_IN_PROGRESS: dialect.busy_scode,
            Scode.AGENT_NOT_CONNECTED: dialect.agent_scode,
        }

    def answer(self, payload: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """The envelope as this platform sends it, and its HTTP status."""
        scode = payload.get("scode", 0)
        status = 200
        if scode != 0:
            payload["scode"] = self._scodes.get(scode, scode)
            payload["data"] = _REFUSAL_DATA[self.dialect.refusal_data]
            status = self.dialect.refusal_http_status
        data = payload.get("data")
        if isinstance(data, dict) and isinstance(data.get("results"), list):  # a batch: per-item refusals
            for item in data["results"]:
                if isinstance(item, dict) and item.get("scode", 0) != 0:
                    item["scode"] = self._scodes.get(item["scode"], item["scode"])
        if self.dialect.null_fields:
            self._nulls(payload.get("data"))
        return payload, status

    def _nulls(self, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in NULLABLE_FIELDS and isinstance(item, int | float) and self._rng.random() < NULL_SHARE:
                    value[key] = None
                else:
                    self._nulls(item)
        elif isinstance(value, list):
            for item in value:
                self._nulls(item)

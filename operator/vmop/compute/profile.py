"""Everything ../shared/compute-api.md leaves open, decided in one place, with the doc's words.

vmop never depends on these guesses for correctness: an scode listed here only speeds a decision
up (a busy refusal is retried sooner), and "gone" is decided by a fresh ``list`` with
``filter_uuid``, which the doc guarantees. Operators set their platform's real values with
``vmop run`` flags (``--not-found-scode``, ``--busy-scode``, ``--agent-missing-scode``,
``--page-param``) or the chart's ``platform:`` values; ``vmop probe`` suggests them.
docs/platform-assumptions.md lists each choice with the test that plays the other reading.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vmop.compute.scodes import Scode

Hint = Literal["not_found", "busy", "agent_missing"]
PageParam = Literal["page_number", "page_num"]
PAGE_PARAMS: tuple[PageParam, ...] = ("page_number", "page_num")

# The doc: save "虚拟机进入休眠状态" (the VM enters the hibernated state), restore needs "处于休眠状态、
# 无动作" (hibernated, no action) and "同样可唤醒因操作系统睡眠而进入的休眠状态" (also wakes a guest that
# went to sleep by itself). It never says which state/action pair "hibernated" is. vmop reads both
# pairs below as hibernated, whatever the profile: a hibernated VM is restored, never started (a
# cold boot would lose the saved memory), and a guest asleep by itself is woken the same way.
HIBERNATED_SHAPES: frozenset[tuple[str, str]] = frozenset({("shutoff", "save"), ("pmsuspend", "noaction")})


class PlatformProfile(BaseModel):
    """The platform's answers where the doc names none (optional hints, never required)."""

    model_config = ConfigDict(frozen=True)

    # The doc names no "VM not found" scode. A hint only: the controller decides "gone" by a list
    # filtered on the uuid; this marks the refusal so logs and probes can say what it meant.
    not_found_scodes: frozenset[int] = Field(
        default=frozenset({Scode.VM_NOT_FOUND}), description="refusals meaning the VM does not exist"
    )
    # The doc: "要求...无动作" (requires no action) on most operations, without the refusal's code.
    # Listed codes are retried with backoff at once; any other refusal of an action is retried too,
    # after the controller has looked again (the observation may have been stale).
    busy_scodes: frozenset[int] = Field(
        default=frozenset({Scode.VM_ACTION_IN_PROGRESS, Scode.INTERNAL_ERROR}),
        description="refusals meaning the VM or the platform is busy for now",
    )
    # The doc: shutdown and reboot "要求Agent已连接" (need the guest agent), without the code.
    agent_missing_scodes: frozenset[int] = Field(
        default=frozenset({Scode.AGENT_NOT_CONNECTED}),
        description="refusals meaning the guest agent has not connected yet",
    )
    # The doc's list parameter table and PagingParam say "page_number"; its own request example
    # sends "page_num". Both are sent by default (the platform ignores unknown parameters, as the
    # doc's examples show), and the client checks that pages advance.
    page_params: tuple[PageParam, ...] = Field(
        default=PAGE_PARAMS, min_length=1, description="the paging parameter names sent with list"
    )

    def hint(self, scode: int) -> Hint | None:
        if scode in self.not_found_scodes:
            return "not_found"
        if scode in self.busy_scodes:
            return "busy"
        if scode in self.agent_missing_scodes:
            return "agent_missing"
        return None

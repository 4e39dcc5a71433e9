"""In-process simulator plumbing for tests: a fake clock, a platform, a client over ASGI."""

from __future__ import annotations

from vmop.compute.models import ComputeIdentifier
from vmop.sim.dialect import Dialect
from vmop.sim.faults import Faults, Timings
from vmop.sim.platform import Platform
from vmop.sim.world import Vm, World, default_seed

CLUSTER = "c27a25bc-5da2-430f-bfaf-6c8d33f21128"
OTHER_CLUSTER = "650ea11b-b7fb-4269-8232-aa53865aab3b"
TENANT = "a5badacf-a25c-4171-9aff-b619fc2d300a"
POOL = "42b3e3b6-b1d1-44c0-bf5c-b9cf73d594df"
PORT_GROUP = "239223b4-d21b-4b23-954f-796f17c75c49"
ZONE = "2871bab9-d6ed-4100-8d74-9c4442b52bb5"
TEMPLATE = "d2c90a85-21c7-43c6-a9db-ad50eab6362c"


# Every reading of the doc the simulator can play, each set to its non-default value: vmop must
# work against it with no profile flags (docs/platform-assumptions.md).
FLIPPED = Dialect(
    not_found_scode=31001,
    busy_scode=31003,
    agent_scode=31004,
    refusal_http_status=500,
    refusal_data="empty-string",
    page_param="page_num",
    hibernated_as="pmsuspend",
    null_fields=True,
    cloud_init_set_needs_shutoff=True,
    cloud_init_user_data="text",
    balloon_needs_running=True,
    balloon_dropped_at_power_off=True,
    video_edit_field="videos",
    memory_reserve_field="cpu_reserve_enable",
)
SIM_PROFILES: dict[str, Dialect] = {"default": Dialect(), "flipped": FLIPPED}


def dialect_arguments(dialect: Dialect) -> list[str]:
    """The `vmop sim` flags that select this dialect (only those that differ from the default)."""
    args: list[str] = []
    defaults = Dialect()
    for name in Dialect.model_fields:
        value = getattr(dialect, name)
        if value == getattr(defaults, name):
            continue
        flag = "--" + name.replace("_", "-")
        args += [flag] if isinstance(value, bool) else [flag, str(value)]
    return args


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_platform(clock: FakeClock, faults: Faults | None = None, dialect: Dialect | None = None) -> Platform:
    return Platform(World(default_seed(), clock=clock), Timings(), faults or Faults(), dialect or Dialect())


def ident(vm: Vm) -> ComputeIdentifier:
    return ComputeIdentifier(cluster_uuid=vm.cluster_uuid, tenant=vm.tenant, compute_uuid=vm.uuid, compute_name=vm.name)

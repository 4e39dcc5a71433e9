"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.simulation import FakeClock, make_platform
from vmop.compute import ComputeClient, ComputeSettings, RetryPolicy
from vmop.compute.client import CallRecord
from vmop.sim.app import create_app
from vmop.sim.platform import Platform

# control_plane: a real etcd + kube-apiserver + controller-manager per session (integration tests).
pytest_plugins = ("vmop.dev.pytest_plugin",)


def pytest_configure(config: pytest.Config) -> None:
    # Declared here rather than in pyproject.toml: the long variants of the fault tests.
    config.addinivalue_line(
        "markers", "heavy: long fault-injection variants (100 VMs...); skipped unless asked for: pytest -m heavy"
    )
    config.addinivalue_line(
        "markers",
        "profiles: depends on readings of the compute doc; scripts/test runs these again with "
        "VMOP_SIM_PROFILE=flipped (tests/support/simulation.py)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Heavy tests run only when the -m expression names them (``pytest -m heavy``)."""
    if "heavy" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="heavy variant: run with `pytest -m heavy`")
    for item in items:
        if item.get_closest_marker("heavy") is not None:
            item.add_marker(skip)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def platform(clock: FakeClock) -> Platform:
    return make_platform(clock)


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[ComputeClient]:
    """The real client talking to the real simulator app, in process."""
    settings = ComputeSettings(base_url="http://sim.test", retry=RetryPolicy(max_attempts=3, base_delay=0.001))
    async with ComputeClient(settings, transport=httpx.ASGITransport(app=create_app(platform))) as compute:
        yield compute


@pytest.fixture
async def calls(platform: Platform) -> AsyncIterator[tuple[ComputeClient, list[str]]]:
    """A client that also lists the endpoints it called."""
    made: list[str] = []

    def note(record: CallRecord) -> None:
        if record.scode is not None:
            made.append(record.endpoint.removeprefix("/v1/compute/"))

    settings = ComputeSettings(base_url="http://sim.test", retry=RetryPolicy(max_attempts=1))
    transport = httpx.ASGITransport(app=create_app(platform))
    async with ComputeClient(settings, transport=transport, observer=note) as client:
        yield client, made

"""Integration fixtures: the real control plane (session), `vmop sim` and `vmop run` as processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.processes import Kube, OperatorProcess, SimProcess, sim_profile
from tests.support.rbac import install_chart_rbac

from vmop.dev.controlplane import ControlPlane


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def sim(logs: Path) -> Iterator[SimProcess]:
    """The platform, answering as the selected profile's (VMOP_SIM_PROFILE; default: default)."""
    process = SimProcess.start(logs, dialect=sim_profile())
    yield process
    process.stop()


@pytest.fixture(scope="module")
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def kube(control_plane: ControlPlane, namespace: str) -> Kube:
    return Kube(control_plane, namespace)


@pytest.fixture(scope="module")
def least_privilege(control_plane: ControlPlane, namespace: str, logs: Path) -> Iterator[Path]:
    """The chart's namespaced Role for the test namespace, as a ServiceAccount token: the whole
    integration suite runs vmop with exactly the permissions the chart grants it, and under the
    chart's admission policy (no spec change by that identity)."""
    cluster_scoped: list[str] = []
    _, kubeconfig = install_chart_rbac(
        control_plane, logs, namespace, cluster_scoped, f"watchNamespaces={{{namespace}}}"
    )
    yield kubeconfig
    control_plane.kubectl("delete", *cluster_scoped, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane, sim: SimProcess, namespace: str, logs: Path, least_privilege: Path
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(control_plane, sim.url, logs, [namespace], kubeconfig=least_privilege).start()
    yield process
    process.stop()
    print(f"operator log ({process.log}):\n{process.output()[-4000:]}")

"""pytest fixtures for tests against a real control plane (loaded by tests/conftest.py).

``control_plane`` starts etcd, kube-apiserver and kube-controller-manager once per session in a
temporary state dir (no simulator) and stops them at the end; with
``VMOP_USE_EXISTING_CLUSTER=1`` it uses the ``KUBECONFIG`` cluster instead. Either way the
repo's CRDs are installed. The first use builds the binaries (see docs/development.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vmop.dev.binaries import ensure_binaries
from vmop.dev.controlplane import ControlPlane, start


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = start(tmp_path_factory.mktemp("control-plane"), ensure_binaries())
    try:
        yield plane
    finally:
        plane.stop()

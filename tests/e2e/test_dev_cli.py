"""`vmop dev up|status|kubectl|down` as a user runs them: separate processes, one state dir."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmop.dev.processes import Process

pytestmark = pytest.mark.integration

COMMAND_TIMEOUT = 300  # `up` includes building the binaries when the cache is cold


def vmop_dev(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Always a local control plane here, whatever cluster the session itself may be pointed at.
    env = {k: v for k, v in os.environ.items() if k not in {"VMOP_USE_EXISTING_CLUSTER", "VMOP_DEV_STATE"}}
    cmd = [sys.executable, "-m", "vmop", "dev", args[0], "--state-dir", str(state_dir), *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=COMMAND_TIMEOUT)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    vmop_dev(tmp_path, "down")  # whatever the test got to, leave nothing running


def test_up_status_down(state_dir: Path) -> None:
    up = vmop_dev(state_dir, "up", "--no-sim")
    assert up.returncode == 0, up.stderr
    assert f"export KUBECONFIG={shlex.quote(str(state_dir / 'kubeconfig'))}\n" in up.stdout
    recorded = json.loads((state_dir / "state.json").read_text())
    started = [Process.from_json(p) for p in recorded["processes"]]
    assert [p.name for p in started] == ["etcd", "kube-apiserver", "kube-controller-manager"]

    # The components outlived `up`; a second `up` finds them instead of starting more.
    again = vmop_dev(state_dir, "up", "--no-sim")
    assert again.returncode == 0, again.stderr
    assert "already up" in again.stderr
    assert json.loads((state_dir / "state.json").read_text()) == recorded

    status = vmop_dev(state_dir, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count(" running ") == 3
    assert "readyz (https://127.0.0.1:" in status.stdout
    assert "): ok\n" in status.stdout

    kubectl = vmop_dev(state_dir, "kubectl", "--", "get", "namespace", "default", "-o", "name")
    assert kubectl.returncode == 0, kubectl.stderr
    assert kubectl.stdout == "namespace/default\n"

    down = vmop_dev(state_dir, "down")
    assert down.returncode == 0, down.stderr
    assert not any(p.alive() for p in started)
    assert not (state_dir / "state.json").exists()
    assert not (state_dir / "etcd").exists()
    assert (state_dir / "kube-apiserver.log").exists()  # logs are kept

    after = vmop_dev(state_dir, "status")
    assert after.returncode == 1
    assert "not up" in after.stdout


def test_a_component_stopped_by_hand_shows_dead_and_comes_back_alone(state_dir: Path) -> None:
    up = vmop_dev(state_dir, "up", "--no-sim")
    assert up.returncode == 0, up.stderr
    recorded = json.loads((state_dir / "state.json").read_text())
    started = {p.name: p for p in (Process.from_json(p) for p in recorded["processes"])}
    kcm = started["kube-controller-manager"]
    os.kill(kcm.pid, signal.SIGTERM)  # by hand, as a person would
    deadline = time.monotonic() + 30
    while kcm.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not kcm.alive()

    status = vmop_dev(state_dir, "status")
    assert status.returncode == 1
    rows = [line for line in status.stdout.splitlines() if " pid " in line]
    assert [(row.split()[0], row.split()[5]) for row in rows] == [
        ("etcd", "running"),
        ("kube-apiserver", "running"),
        ("kube-controller-manager", "DEAD"),
    ], status.stdout
    assert "`vmop dev restart kube-controller-manager`" in status.stdout

    restarted = vmop_dev(state_dir, "restart", "controller-manager")
    assert restarted.returncode == 0, restarted.stderr
    now = json.loads((state_dir / "state.json").read_text())
    assert now["ports"] == recorded["ports"] and now["kubeconfig"] == recorded["kubeconfig"]
    assert vmop_dev(state_dir, "status").stdout.count(" running ") == 3

    # `up` with one component gone starts that one again, not a new cluster (the exported
    # KUBECONFIG stays good).
    assert vmop_dev(state_dir, "restart", "apiserver").returncode == 0
    apiserver = next(
        Process.from_json(p)
        for p in json.loads((state_dir / "state.json").read_text())["processes"]
        if p["name"] == "kube-apiserver"
    )
    os.kill(apiserver.pid, signal.SIGKILL)
    again = vmop_dev(state_dir, "up", "--no-sim")
    assert again.returncode == 0, again.stderr
    assert "kube-apiserver is not running; starting it again" in again.stderr
    assert json.loads((state_dir / "state.json").read_text())["ports"] == recorded["ports"]
    kubectl = vmop_dev(state_dir, "kubectl", "--", "get", "namespace", "default", "-o", "name")
    assert kubectl.stdout == "namespace/default\n", kubectl.stderr

    unknown = vmop_dev(state_dir, "restart", "sim")
    assert unknown.returncode == 1 and "was not started" in unknown.stderr

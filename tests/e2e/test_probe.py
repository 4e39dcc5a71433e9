"""`vmop probe` as a platform team runs it before installing: against `vmop sim` in each of its
profiles it prints the profile the simulator plays, and it exits non-zero where vmop cannot work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.processes import SimProcess, wait_for
from tests.support.simulation import CLUSTER, SIM_PROFILES, TENANT

from vmop.dev.processes import free_ports


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "vmop", "probe", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def hibernated_vm(sim: SimProcess) -> str:
    body = {"cluster_uuid": CLUSTER, "tenant": TENANT, "meta": {"compute_name": "probe-sleeper"}, "disks": []}
    answer = sim.call("unified_create", body | {"cpu_sockets": 1, "cpu_socket_cores": 1, "mem_size": 1 << 30})
    vm = {"cluster_uuid": CLUSTER, "tenant": TENANT, "compute_uuid": answer["data"]["results"][0]["data"]["vm_uuid"]}
    assert sim.call("start", vm)["scode"] == 0
    wait_for(lambda: sim.call("save", vm)["scode"] == 0, timeout=10, what="hibernated")
    return vm["compute_uuid"]


@pytest.mark.parametrize("profile", sorted(SIM_PROFILES))
def test_probe_prints_the_profile_the_simulator_plays(tmp_path: Path, profile: str) -> None:
    dialect = SIM_PROFILES[profile]
    sim = SimProcess.start(tmp_path, dialect=dialect)
    try:
        sleeper = hibernated_vm(sim)
        done = probe("--compute-url", sim.url, "--cluster", CLUSTER, "--hibernated-vm", sleeper)
    finally:
        sim.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    shown = done.stdout
    assert f"not-found scode:  {dialect.not_found_scode}\n" in shown, shown
    assert f"paging parameter: {dialect.page_param}\n" in shown, shown
    assert f"hibernated shape: {'+'.join(dialect.hibernated)}\n" in shown, shown
    assert f"HTTP {dialect.refusal_http_status}" in shown, shown
    flags = "none (the defaults fit)" if profile == "default" else f"--not-found-scode={dialect.not_found_scode}"
    assert f"vmop run flags to set: {flags}\n" in shown, shown


def test_probe_fails_where_vmop_cannot_work(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    unreachable = probe("--compute-url", f"http://127.0.0.1:{port}")
    assert unreachable.returncode == 1
    assert "FAIL" in unreachable.stdout and "platform unreachable" in unreachable.stdout
    sim = SimProcess.start(tmp_path, token="right-token")
    try:
        wrong = tmp_path / "wrong"
        wrong.write_text("wrong-token\n")
        refused = probe("--compute-url", sim.url, "--token-file", str(wrong))
        right = tmp_path / "right"
        right.write_text("right-token\n")
        accepted = probe("--compute-url", sim.url, "--token-file", str(right), "--hibernated-vm", "not-a-vm")
    finally:
        sim.stop()
    assert refused.returncode == 1 and "authentication" in refused.stdout and "FAIL" in refused.stdout
    assert "right-token" not in refused.stdout + refused.stderr
    assert accepted.returncode == 1  # the VM named as hibernated does not exist: that is a failed check
    assert re.search(r"^hibernated shape +FAIL +inspect not-a-vm", accepted.stdout, re.M), accepted.stdout

"""`vmop sim` as a person starts it: a real HTTP server answering the compute API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_healthy(url: str, process: subprocess.Popen[bytes], deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"vmop sim exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"vmop sim did not answer at {url} within {deadline}s")


@pytest.fixture
def sim_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    token = tmp_path / "token"
    token.write_text("sim-token\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vmop",
            "sim",
            "--port",
            str(port),
            "--token-file",
            str(token),
            "--latency-ms",
            "5",
            "--fault",
            '{"forced_scode": {"migrate": 21042}}',
        ]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sim_answers_list_with_the_seeded_vms(sim_server: str) -> None:
    headers = {"Authorization": "Bearer sim-token"}
    answer = httpx.get(f"{sim_server}/v1/compute/list", headers=headers, timeout=5).json()
    assert answer["scode"] == 0
    assert {"test-clone", "red22"} <= {vm["name"] for vm in answer["data"]["domains"]}
    refused = httpx.get(f"{sim_server}/v1/compute/list", timeout=5)
    assert refused.status_code == 401
    forced = httpx.post(f"{sim_server}/v1/compute/migrate", headers=headers, json={}, timeout=5).json()
    assert forced["scode"] == 21042
    stats = httpx.get(f"{sim_server}/sim/stats", timeout=5).json()
    assert stats["calls"]["list"] == 1
    openapi = httpx.get(f"{sim_server}/openapi.json", timeout=5).json()
    assert "/v1/compute/unified_create" in openapi["paths"]


def test_run_without_a_compute_url_says_so() -> None:
    env = {k: v for k, v in os.environ.items() if k != "VMOP_COMPUTE_URL"}
    done = subprocess.run([sys.executable, "-m", "vmop", "run"], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "--compute-url" in done.stderr

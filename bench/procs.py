"""The processes a benchmark run starts (simulator, vmop, the kopf floor), and what /proc says
about them: peak RSS and CPU seconds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Usage:
    peak_rss_mib: float  # VmHWM: the high-water mark of resident memory
    rss_mib: float
    cpu_seconds: float  # utime + stime

    def to_json(self) -> dict[str, float]:
        return {"peak_rss_mib": self.peak_rss_mib, "rss_mib": self.rss_mib, "cpu_seconds": self.cpu_seconds}


def usage(pid: int) -> Usage:
    status = Path(f"/proc/{pid}/status").read_text()
    values = {line.split(":")[0]: line.split(":")[1].strip() for line in status.splitlines() if ":" in line}
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15: utime, stime
    return Usage(
        peak_rss_mib=int(values["VmHWM"].split()[0]) / 1024,
        rss_mib=int(values["VmRSS"].split()[0]) / 1024,
        cpu_seconds=cpu,
    )


@dataclass
class Child:
    """A process started by the benchmark; its output goes to a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int

    @classmethod
    def spawn(cls, name: str, args: Sequence[str], log: Path, port: int) -> Child:
        env = os.environ | {"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO / "operator")}
        with log.open("wb") as out:
            process = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        return cls(name, process, log, port)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_healthy(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not healthy after {timeout:.0f}s; see {self.log}")

    def usage(self) -> Usage:
        return usage(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each named process still alive."""
    found = {}
    for name, pid in pids.items():
        try:
            found[name] = usage(pid).cpu_seconds
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy, recording ``pid`` as a speedscope profile until stop_profiler."""
    args = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "50"]
    args += ["--format", "speedscope", "-o", str(out)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(profiler: subprocess.Popen[bytes]) -> None:
    profiler.send_signal(signal.SIGINT)  # py-spy writes the profile and exits
    profiler.wait(timeout=60)


def start_sim(log_dir: Path, *, latency_ms: float, boot_seconds: float) -> tuple[Child, str]:
    port = free_port()
    args = [sys.executable, "-m", "vmop", "sim", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--latency-ms", str(latency_ms), "--boot-seconds", str(boot_seconds)]
    child = Child.spawn("vmop sim", args, log_dir / f"sim-{port}.log", port)
    url = f"http://127.0.0.1:{port}"
    child.wait_healthy(f"{url}/healthz")
    return child, url


def sim_stats(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{url}/sim/stats", timeout=10).json()
    return answer


def scope_vms(url: str, cluster: str, tenant: str) -> int:
    """How many VMs the platform has in a (cluster, tenant) (one compute call)."""
    params: dict[str, str | int] = {"cluster_uuid": cluster, "tenant": tenant, "page_number": 0, "page_size": 1}
    answer = httpx.get(f"{url}/v1/compute/list", params=params, timeout=10).json()
    return int(answer["data"]["total_count"])


def run_flags() -> set[str]:
    """The flags this checkout's `vmop run` accepts."""
    import argparse

    from vmop.config import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return {flag for action in parser._actions for flag in action.option_strings}


def start_vmop(
    log_dir: Path, kubeconfig: Path, compute_url: str, namespace: str, *, resync_seconds: float, extra: Sequence[str]
) -> Child:
    port = free_port()
    args = [sys.executable, "-m", "vmop", "run", "--compute-url", compute_url, "--kubeconfig", str(kubeconfig)]
    args += ["--namespace", namespace, "--liveness-port", str(port), "--resync-seconds", str(resync_seconds)]
    if "--metrics-port" in run_flags():  # its own Prometheus endpoint: a free port, never a fixed one
        args += ["--metrics-port", str(free_port())]
    args += extra
    index = extra[list(extra).index("--shard-index") + 1] if "--shard-index" in extra else ""
    child = Child.spawn("vmop run", args, log_dir / f"vmop-{namespace}{'-' + index if index else ''}.log", port)
    child.wait_healthy(f"http://127.0.0.1:{port}/healthz")
    return child


@dataclass
class Shards:
    """The processes of one sharded operator (`vmop run --shards K`), measured as one: CPU summed,
    memory the largest process's (what each pod must be given)."""

    children: list[Child]

    @property
    def pid(self) -> int:
        return self.children[0].pid

    @property
    def log(self) -> Path:
        return self.children[0].log

    def usage(self) -> Usage:
        each = [child.usage() for child in self.children]
        return Usage(
            peak_rss_mib=max(u.peak_rss_mib for u in each),
            rss_mib=max(u.rss_mib for u in each),
            cpu_seconds=sum(u.cpu_seconds for u in each),
        )

    def stop(self) -> None:
        for child in self.children:
            child.stop()


def start_shards(
    log_dir: Path,
    kubeconfig: Path,
    compute_url: str,
    namespace: str,
    *,
    shards: int,
    resync_seconds: float,
    extra: Sequence[str],
) -> Shards:
    lease = ["--lease", "bench", "--lease-namespace", namespace]
    children = []
    for index in range(shards):
        flags = [*extra, "--shards", str(shards), "--shard-index", str(index), *lease]
        child = start_vmop(log_dir, kubeconfig, compute_url, namespace, resync_seconds=resync_seconds, extra=flags)
        children.append(child)
    return Shards(children)


def start_floor(log_dir: Path, kubeconfig: Path, namespace: str) -> Child:
    port = free_port()
    args = [sys.executable, str(REPO / "bench" / "floor_operator.py"), "--kubeconfig", str(kubeconfig)]
    args += ["--namespace", namespace, "--liveness-port", str(port)]
    child = Child.spawn("kopf floor", args, log_dir / f"floor-{namespace}.log", port)
    child.wait_healthy(f"http://127.0.0.1:{port}/healthz")
    return child

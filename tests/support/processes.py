"""The simulator and the operator as real processes, the way a person runs them."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.simulation import SIM_PROFILES, dialect_arguments
from vmop.dev.controlplane import ControlPlane
from vmop.dev.pki import Pki
from vmop.dev.processes import free_ports
from vmop.sim.dialect import Dialect

# Which reading of the compute doc the integration suite's simulator plays (tests/support/
# simulation.py): scripts/test runs the `profiles` subset once more with "flipped".
SIM_PROFILE_ENV = "VMOP_SIM_PROFILE"


def sim_profile() -> Dialect:
    name = os.environ.get(SIM_PROFILE_ENV, "default")
    if name not in SIM_PROFILES:
        raise AssertionError(f"{SIM_PROFILE_ENV}={name!r}: one of {', '.join(SIM_PROFILES)}")
    return SIM_PROFILES[name]


T = TypeVar("T")
RESYNC_SECONDS = 2  # the operator's --resync-seconds: short, the simulator answers in milliseconds


def wait_for(probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.2, what: str = "") -> T:
    """Poll until probe returns something truthy; fail with what we waited for."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}; last: {last!r}")


@dataclass
class SimProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    token: str | None = None  # the bearer token it requires (--token-file), sent by call()
    verify: ssl.SSLContext | bool = True  # trusts the test CA when it serves TLS
    dialect: Dialect = field(default_factory=Dialect)  # how it answers where the doc is silent

    @classmethod
    def start(
        cls,
        log_dir: Path,
        *extra: str,
        token: str | None = None,
        tls: Pki | None = None,
        dialect: Dialect | None = None,
    ) -> SimProcess:
        """`vmop sim` on a free port; with ``token`` it requires that bearer token, with ``tls`` it
        serves HTTPS with the PKI's serving cert (for 127.0.0.1), trusted through its CA; with
        ``dialect`` it answers as that platform would."""
        (port,) = free_ports(1)
        log = log_dir / f"sim-{port}.log"
        dialect = dialect or Dialect()
        args = [sys.executable, "-m", "vmop", "sim", "--port", str(port), "--boot-seconds", "0.5", *extra]
        args += dialect_arguments(dialect)
        if token is not None:
            token_file = log_dir / f"sim-{port}.token"
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
            args += ["--token-file", str(token_file)]
        if tls is not None:
            args += ["--tls-cert", str(tls.serving_cert), "--tls-key", str(tls.serving_key)]
        process = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT)
        scheme = "https" if tls is not None else "http"
        verify = ssl.create_default_context(cafile=str(tls.ca_cert)) if tls is not None else True
        sim = cls(f"{scheme}://127.0.0.1:{port}", process, log, token=token, verify=verify, dialect=dialect)
        wait_for(sim.healthy, timeout=20, what="vmop sim to answer")
        return sim

    def _http(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.request(method, f"{self.url}{path}", headers=headers, verify=self.verify, **kwargs)

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"vmop sim exited: {self.log.read_text()[-2000:]}")
        try:
            return self._http("GET", "/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def call(self, endpoint: str, body: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        """A compute API call straight to the platform (what someone else might do behind vmop's back)."""
        if body is None:
            response = self._http("GET", f"/v1/compute/{endpoint}", params=params, timeout=10)
        else:
            response = self._http("POST", f"/v1/compute/{endpoint}", json=body, timeout=10)
        answer: dict[str, Any] = response.json()
        return answer

    def vms(self, cluster: str, tenant: str, **filters: Any) -> list[dict[str, Any]]:
        answer = self.call("list", cluster_uuid=cluster, tenant=tenant, **filters)
        assert answer["scode"] == 0, answer
        domains: list[dict[str, Any]] = answer["data"]["domains"]
        return domains

    def inspect(self, cluster: str, tenant: str, uuid: str) -> dict[str, Any]:
        return self.call("inspect", cluster_uuid=cluster, tenant=tenant, compute_uuid=uuid)

    def faults(self, **faults: Any) -> None:
        self._http("PUT", "/sim/faults", json=faults, timeout=5).raise_for_status()

    def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._http("GET", "/sim/stats", timeout=5).json()
        return answer

    def unshown(self, uuid: str) -> dict[str, Any]:
        """What the simulator keeps about a VM that no compute endpoint shows (its balloon)."""
        answer: dict[str, Any] = self._http("GET", f"/sim/vms/{uuid}", timeout=5).json()
        return answer

    def volumes(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self._http("GET", "/sim/volumes", timeout=5).json()
        return answer


@dataclass
class OperatorProcess:
    """`vmop run` against the test control plane and simulator."""

    plane: ControlPlane
    compute_url: str
    log_dir: Path
    namespaces: list[str]
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    starts: int = 0
    metrics_port: int = 0
    kubeconfig: Path | None = None  # the operator's identity; default: the control plane's admin

    def start(self) -> OperatorProcess:
        port, metrics_port = free_ports(2)
        self.metrics_port = metrics_port
        self.starts += 1
        self.log = self.log_dir / f"operator-{port}-{self.starts}.log"
        args = [
            sys.executable,
            "-m",
            "vmop",
            "run",
            "--compute-url",
            self.compute_url,
            "--kubeconfig",
            str(self.kubeconfig or self.plane.kubeconfig),
            "--liveness-port",
            str(port),
            "--metrics-port",
            str(metrics_port),
            "--resync-seconds",
            str(RESYNC_SECONDS),
            # The simulator answers in milliseconds: a create with no known outcome is settled long
            # before this (the default, twice the compute timeout, is for real platforms).
            "--create-grace-seconds",
            "6",
            *self.extra,
        ]
        for namespace in self.namespaces:
            args += ["--namespace", namespace]
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(args, stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: self._live(port), timeout=30, what="the operator's liveness endpoint")
        return self

    def _live(self, port: int) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"vmop run exited: {self.output()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, like a node dying."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text() if self.log else ""


@dataclass
class Kube:
    """kubectl for one namespace of the test control plane."""

    plane: ControlPlane
    namespace: str

    def apply(self, manifest: dict[str, Any], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.plane.kubectl("apply", "-n", self.namespace, "-f", "-", stdin=json.dumps(manifest), check=check)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        done = self.plane.kubectl("get", kind, name, "-n", self.namespace, "-o", "json", check=False)
        if done.returncode != 0:
            return None
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    def delete(self, kind: str, name: str, *, wait: bool = False) -> None:
        self.plane.kubectl("delete", kind, name, "-n", self.namespace, f"--wait={str(wait).lower()}")

    def annotate(self, kind: str, name: str, **annotations: str) -> None:
        pairs = [f"{k}={v}" for k, v in annotations.items()]
        self.plane.kubectl("annotate", "--overwrite", kind, name, "-n", self.namespace, *pairs)

    def patch_spec(self, kind: str, name: str, spec: dict[str, Any]) -> None:
        self.plane.kubectl(
            "patch", kind, name, "-n", self.namespace, "--type", "merge", "-p", json.dumps({"spec": spec})
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        done = self.plane.kubectl(
            "get", "events", "-n", self.namespace, "-o", "json", "--field-selector", f"involvedObject.name={name}"
        )
        items: list[dict[str, Any]] = json.loads(done.stdout)["items"]
        return items


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for found in ((obj or {}).get("status") or {}).get("conditions") or []:
        if found["type"] == type_:
            return dict(found)
    return None


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from a Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0

"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager.

Started from the binaries of vmop.dev.binaries, each component detached in its own session and
logging to ``<state-dir>/<name>.log``; what was started (pids, ports, paths) is recorded in
``<state-dir>/state.json`` so that another command can check on it and stop it. The repo's
CRDs are installed once the apiserver is ready, and the compute simulator can be started next
to it. With ``VMOP_USE_EXISTING_CLUSTER=1`` the cluster of ``KUBECONFIG`` is used instead and
only the CRDs (and the simulator, if asked for) are set up.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vmop.dev import processes
from vmop.dev.binaries import Binaries
from vmop.dev.pki import Pki, TokenUser, make_pki, write_kubeconfig, write_token_file
from vmop.dev.processes import Process, StartupError, free_ports, http_ok, spawn, wait_ready

DEFAULT_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
COMMAND_TIMEOUT = 120.0
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN = "admin"
STATE_FILE = "state.json"
# Everything a start creates except the logs, which are kept after a stop for post-mortems.
TEMP_STATE = ("etcd", "pki", "kcm-certs", "kube-cache", "tokens.csv", "kubeconfig", STATE_FILE)


class CommandError(subprocess.CalledProcessError):
    """A kubectl/helm call failed; unlike its base class, the message includes stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr or ''}".rstrip()


def default_state_dir() -> Path:
    explicit = os.environ.get("VMOP_DEV_STATE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vmop" / "dev"


def default_crds_dir() -> Path:
    """The checkout's ``crds/`` folder (operator/vmop/dev/ is three levels below the root)."""
    return Path(__file__).resolve().parents[3] / "crds"


def use_existing_cluster() -> bool:
    return os.environ.get("VMOP_USE_EXISTING_CLUSTER", "").lower() in {"1", "true", "yes"}


@dataclass
class ControlPlane:
    """A running (or recorded) control plane and the tools to talk to it."""

    state_dir: Path
    binaries: Binaries
    kubeconfig: Path
    existing_cluster: bool = False
    processes: list[Process] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def server(self) -> str | None:
        port = self.ports.get("kube-apiserver")
        return f"https://127.0.0.1:{port}" if port else None

    @property
    def sim_url(self) -> str | None:
        port = self.ports.get("sim")
        return f"http://127.0.0.1:{port}" if port else None

    def env(self) -> dict[str, str]:
        """Environment for kubectl and helm: this cluster, and a discovery cache of its own
        (kubectl keys the cache by host:port, and ports are reused across runs). The folder vmop
        is installed in comes first on PATH, so kubectl finds the kubectl-vmop plugin beside it."""
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
        return os.environ | {
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.state_dir / "kube-cache"),
            "PATH": path,
        }

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        stdin: str | None = None,
        capture: bool = True,
        timeout: float | None = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        return self._run("kubectl", args, check=check, stdin=stdin, capture=capture, timeout=timeout)

    def helm(
        self,
        *args: str,
        check: bool = True,
        stdin: str | None = None,
        capture: bool = True,
        timeout: float | None = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        return self._run("helm", args, check=check, stdin=stdin, capture=capture, timeout=timeout)

    def _run(
        self, tool: str, args: tuple[str, ...], *, check: bool, stdin: str | None, capture: bool, timeout: float | None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.binaries.path(tool)), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=capture, text=True, env=self.env(), timeout=timeout)
        if check and proc.returncode != 0:
            raise CommandError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def add(self, process: Process, port: int) -> None:
        """Record a started process at once, so a `down` can find it even if start-up fails later."""
        self.processes.append(process)
        self.ports[process.name] = port
        self.save()

    def save(self) -> None:
        state = {
            "kubeconfig": str(self.kubeconfig),
            "binaries": str(self.binaries.directory),
            "existing_cluster": self.existing_cluster,
            "ports": self.ports,
            "processes": [p.to_json() for p in self.processes],
        }
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: Path) -> ControlPlane | None:
        """The control plane recorded in ``state_dir``, or None when nothing is recorded."""
        try:
            state = json.loads((state_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            return None
        return cls(
            state_dir=state_dir,
            binaries=Binaries(Path(state["binaries"])),
            kubeconfig=Path(state["kubeconfig"]),
            existing_cluster=bool(state["existing_cluster"]),
            processes=[Process.from_json(p) for p in state["processes"]],
            ports={str(k): int(v) for k, v in state["ports"].items()},
        )

    def alive(self) -> dict[str, bool]:
        return {p.name: p.alive() for p in self.processes}

    def ready(self) -> bool:
        """The apiserver's ``/readyz`` says ok (asked through kubectl, so it also works for an
        existing cluster and checks the kubeconfig)."""
        try:
            proc = self.kubectl("get", "--raw", "/readyz", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0 and proc.stdout.strip() == "ok"

    def restart(self, name: str, *, grace: float = STOP_TIMEOUT, timeout: float = DEFAULT_TIMEOUT) -> Process:
        """Stop one component (SIGTERM, SIGKILL after ``grace`` seconds) and start it again with the
        same command, so the same port, data and credentials; its log continues. Returns once it is
        ready again."""
        found = [i for i, p in enumerate(self.processes) if p.name == name]
        if not found:
            raise KeyError(f"no {name} recorded; started: {[p.name for p in self.processes]}")
        index = found[0]
        old = self.processes[index]
        if not old.cmd:
            raise StartupError(f"{name} was recorded without its command (an older state file): restart all")
        processes.stop(old, grace)
        new = spawn(name, old.cmd, old.log, append=True)
        self.processes[index] = new
        self.save()
        wait_ready(new, self._readiness(name), time.monotonic() + timeout)
        return new

    def _readiness(self, name: str) -> Callable[[], bool]:
        port = self.ports[name]
        if name == "kube-apiserver":
            return self.ready
        if name == "etcd":
            return lambda: http_ok(f"http://127.0.0.1:{port}/health")
        if name == "kube-controller-manager":
            return lambda: http_ok(f"https://127.0.0.1:{port}/healthz", context=_unverified())
        return lambda: http_ok(f"http://127.0.0.1:{port}/healthz")  # sim, operator

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the recorded processes, newest first, and remove the temporary state."""
        for process in reversed(self.processes):
            processes.stop(process, timeout)
        self.processes.clear()
        self.ports.clear()
        remove_temp_state(self.state_dir)


def remove_temp_state(state_dir: Path) -> None:
    for name in TEMP_STATE:
        path = state_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def start(
    state_dir: Path,
    binaries: Binaries,
    *,
    crds_dir: Path | None = None,
    with_sim: bool = False,
    with_operator: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> ControlPlane:
    """Start a fresh control plane in ``state_dir`` (or adopt the ``KUBECONFIG`` cluster when
    ``VMOP_USE_EXISTING_CLUSTER=1``), install the CRDs of ``crds_dir`` and, if asked, start the
    simulator. Everything started is stopped again if any step fails."""
    deadline = time.monotonic() + timeout
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Whatever an earlier run left (it crashed, or was killed): stop it and start afresh.
    previous = ControlPlane.load(state_dir)
    if previous:
        previous.stop()
    remove_temp_state(state_dir)
    plane = _new_plane(state_dir, binaries)
    try:
        plane.save()
        if not plane.existing_cluster:
            _start_kubernetes(plane, deadline)
        install_crds(plane, crds_dir if crds_dir is not None else default_crds_dir(), deadline)
        if with_sim:
            _start_sim(plane, deadline)
            if with_operator:
                _start_operator(plane, deadline)
    except BaseException:
        plane.stop()
        raise
    return plane


def _new_plane(state_dir: Path, binaries: Binaries) -> ControlPlane:
    if not use_existing_cluster():
        return ControlPlane(state_dir, binaries, kubeconfig=state_dir / "kubeconfig")
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        raise StartupError("VMOP_USE_EXISTING_CLUSTER=1 needs KUBECONFIG to name the cluster's kubeconfig")
    return ControlPlane(state_dir, binaries, kubeconfig=Path(kubeconfig), existing_cluster=True)


def _start_kubernetes(plane: ControlPlane, deadline: float) -> None:
    etcd_port, etcd_peer_port, api_port, kcm_port = free_ports(4)
    pki = make_pki(plane.state_dir / "pki")
    token = secrets.token_urlsafe(32)
    write_token_file(plane.state_dir / "tokens.csv", [TokenUser(ADMIN, token, ("system:masters",))])
    server = f"https://127.0.0.1:{api_port}"
    write_kubeconfig(plane.kubeconfig, server=server, ca_cert=pki.ca_cert, user=ADMIN, token=token)

    etcd = _spawn(plane, "etcd", _etcd_args(plane.state_dir, etcd_port, etcd_peer_port), etcd_port)
    wait_ready(etcd, lambda: http_ok(f"http://127.0.0.1:{etcd_port}/health"), deadline)

    apiserver_args = _apiserver_args(plane.state_dir, pki, etcd_port, api_port)
    apiserver = _spawn(plane, "kube-apiserver", apiserver_args, api_port)
    trust_ca = ssl.create_default_context(cafile=str(pki.ca_cert))
    wait_ready(apiserver, lambda: http_ok(f"{server}/readyz", context=trust_ca, token=token), deadline)

    kcm = _spawn(plane, "kube-controller-manager", _controller_manager_args(plane, pki, kcm_port), kcm_port)
    wait_ready(kcm, lambda: http_ok(f"https://127.0.0.1:{kcm_port}/healthz", context=_unverified()), deadline)


def _unverified() -> ssl.SSLContext:
    """kube-controller-manager serves a cert it generated itself at start: nothing to verify it
    against, and only its health is asked, on loopback."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _spawn(plane: ControlPlane, name: str, args: list[str], port: int) -> Process:
    process = spawn(name, [str(plane.binaries.path(name)), *args], plane.state_dir / f"{name}.log")
    plane.add(process, port)
    return process


def _etcd_args(state_dir: Path, port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer_port}"
    return [
        "--name=vmop-dev",
        f"--data-dir={state_dir / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=vmop-dev={peer}",
        "--initial-cluster-state=new",
        # A throwaway cluster: durability is not worth an fsync per write.
        "--unsafe-no-fsync=true",
    ]


def _apiserver_args(state_dir: Path, pki: Pki, etcd_port: int, port: int) -> list[str]:
    return [
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        # The endpoint reconcilers (v1.37.2) refuse a loopback address for the `kubernetes`
        # Service's endpoints; no pod runs here to use them, so keep none.
        "--endpoint-reconciler-type=none",
        f"--secure-port={port}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--token-auth-file={state_dir / 'tokens.csv'}",
        # RBAC only: token users outside system:masters get exactly what roles grant them.
        "--authorization-mode=RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.service_account_public_key}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--allow-privileged=true",
    ]


def _controller_manager_args(plane: ControlPlane, pki: Pki, port: int) -> list[str]:
    kubeconfig = str(plane.kubeconfig)
    return [
        f"--kubeconfig={kubeconfig}",
        # Its own endpoints delegate authn/authz to the apiserver with the same admin credentials.
        # Tokens only: without skipping the lookup it retries forever for the client-cert and
        # request-header CAs of kube-system/extension-apiserver-authentication, set up nowhere here.
        f"--authentication-kubeconfig={kubeconfig}",
        "--authentication-skip-lookup=true",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={plane.state_dir / 'kcm-certs'}",
        "--use-service-account-credentials=false",
        "--controllers=*",
        "--leader-elect=false",
        # Service-account tokens and the kube-root-ca.crt ConfigMap in every namespace.
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca_cert}",
    ]


def install_crds(plane: ControlPlane, crds_dir: Path, deadline: float) -> None:
    """Apply every YAML file of ``crds_dir`` server-side and wait for its CRDs to be Established."""
    files = sorted(p for p in crds_dir.glob("*.y*ml") if p.is_file()) if crds_dir.is_dir() else []
    crds: list[str] = []
    for path in files:
        applied = plane.kubectl("apply", "--server-side", "--field-manager=vmop-dev", "-o", "name", "-f", str(path))
        crds += [name for name in applied.stdout.split() if name.startswith("customresourcedefinition")]
    if crds:
        remaining = max(1, int(deadline - time.monotonic()))
        plane.kubectl("wait", "--for=condition=Established", f"--timeout={remaining}s", *crds)


def _start_sim(plane: ControlPlane, deadline: float) -> None:
    (port,) = free_ports(1)
    cmd = [sys.executable, "-m", "vmop", "sim", "--host", "127.0.0.1", "--port", str(port)]
    sim = spawn("sim", cmd, plane.state_dir / "sim.log")
    plane.add(sim, port)
    wait_ready(sim, lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), deadline)


def _start_operator(plane: ControlPlane, deadline: float) -> None:
    """`vmop run` against this cluster and its simulator: the embedded default, all in one."""
    port, metrics_port = free_ports(2)
    cmd = [
        sys.executable,
        "-m",
        "vmop",
        "run",
        "--compute-url",
        str(plane.sim_url),
        "--kubeconfig",
        str(plane.kubeconfig),
        "--liveness-port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        "--resync-seconds",
        "15",
    ]
    operator = spawn("operator", cmd, plane.state_dir / "operator.log")
    plane.add(operator, port)
    wait_ready(operator, lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), deadline)

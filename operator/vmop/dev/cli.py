"""``vmop dev up|down|status|restart|kubectl|helm``: a local control plane that outlives the command.

``up`` prints only shell lines on stdout (``export KUBECONFIG=...`` and comments), so
``eval "$(vmop dev up)"`` works; progress and errors go to stderr.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from vmop.dev.binaries import BuildError, ensure_binaries
from vmop.dev.controlplane import (
    DEFAULT_TIMEOUT,
    CommandError,
    ControlPlane,
    default_crds_dir,
    default_state_dir,
    start,
)
from vmop.dev.pki import PkiError
from vmop.dev.processes import StartupError

NOT_UP = 1
# `vmop dev restart NAME`: the recorded names, and the short ones people type.
COMPONENTS = {
    "etcd": "etcd",
    "apiserver": "kube-apiserver",
    "kube-apiserver": "kube-apiserver",
    "controller-manager": "kube-controller-manager",
    "kube-controller-manager": "kube-controller-manager",
    "sim": "sim",
    "operator": "operator",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where pids, ports, credentials and logs live (default: $VMOP_DEV_STATE or ~/.local/state/vmop/dev)",
    )
    sub = parser.add_subparsers(dest="dev_command", required=True)

    up = sub.add_parser("up", parents=[common], help="start etcd, kube-apiserver, controller-manager (and the sim)")
    up.add_argument("--no-sim", dest="with_sim", action="store_false", help="do not start the compute simulator")
    up.add_argument(
        "--no-operator",
        dest="with_operator",
        action="store_false",
        help="do not start `vmop run` (it needs the simulator)",
    )
    up.add_argument(
        "--crds", type=Path, default=None, help=f"folder of CRD YAMLs to apply (default: {default_crds_dir()})"
    )
    up.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for everything to become ready")
    up.set_defaults(dev_func=_up)

    sub.add_parser("down", parents=[common], help="stop what `up` started").set_defaults(dev_func=_down)
    sub.add_parser("status", parents=[common], help="which processes are alive, ports, readyz").set_defaults(
        dev_func=_status
    )
    restart = sub.add_parser(
        "restart",
        parents=[common],
        help="stop one component and start it again: same port, data and credentials; its log continues",
    )
    restart.add_argument("component", choices=sorted(COMPONENTS), help="e.g. operator (after a code change), sim")
    restart.set_defaults(dev_func=_restart)
    for tool in ("kubectl", "helm"):
        passthrough = sub.add_parser(tool, parents=[common], help=f"run the cached {tool} against the dev cluster")
        passthrough.add_argument("args", nargs=argparse.REMAINDER, help=f"arguments for {tool}, after --")
        passthrough.set_defaults(dev_func=_passthrough, tool=tool)


def dev_command(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir or default_state_dir()
    try:
        result: int = args.dev_func(args, state_dir)
    except (BuildError, StartupError, PkiError, CommandError, subprocess.TimeoutExpired) as error:
        print(f"vmop dev {args.dev_command}: {error}", file=sys.stderr)
        return 1
    return result


def _print_env(plane: ControlPlane) -> None:
    print(f"export KUBECONFIG={shlex.quote(str(plane.kubeconfig))}")
    if plane.sim_url:
        print(f"# compute simulator: {plane.sim_url}")
    print(f"# logs and state: {plane.state_dir}")


def _restart_dead(plane: ControlPlane) -> bool:
    """Start again, in start order, the recorded components that stopped (by hand, or crashed):
    same ports, data and credentials, so the KUBECONFIG exported before stays good. False when
    that cannot be done (a state file without the commands, a component that will not start)."""
    for name, alive in plane.alive().items():
        if not alive:
            print(f"vmop dev: {name} is not running; starting it again", file=sys.stderr)
            try:
                plane.restart(name)
            except StartupError as error:
                print(f"vmop dev: {error}", file=sys.stderr)
                return False
    return True


def _up(args: argparse.Namespace, state_dir: Path) -> int:
    running = ControlPlane.load(state_dir)
    if running and all(running.alive().values()):
        print(f"vmop dev: already up (state in {state_dir})", file=sys.stderr)
        _print_env(running)
        return 0
    if running and _restart_dead(running):
        _print_env(running)
        return 0
    if running:
        print("vmop dev: restarting everything", file=sys.stderr)
    binaries = ensure_binaries()
    print(f"vmop dev: starting in {state_dir} (logs: <name>.log there)", file=sys.stderr)
    plane = start(
        state_dir,
        binaries,
        crds_dir=args.crds,
        with_sim=args.with_sim,
        with_operator=args.with_operator,
        timeout=args.timeout,
    )
    _print_env(plane)
    return 0


def _down(_: argparse.Namespace, state_dir: Path) -> int:
    plane = ControlPlane.load(state_dir)
    if plane is None:
        print(f"vmop dev: nothing recorded in {state_dir}; not up", file=sys.stderr)
        return 0
    plane.stop()
    print(f"vmop dev: stopped (logs kept in {state_dir})", file=sys.stderr)
    return 0


def _status(_: argparse.Namespace, state_dir: Path) -> int:
    plane = ControlPlane.load(state_dir)
    if plane is None:
        print(f"not up (nothing recorded in {state_dir})")
        return NOT_UP
    alive = plane.alive()
    for process in plane.processes:
        state = "running" if alive[process.name] else "DEAD"
        port = plane.ports.get(process.name)
        print(f"{process.name:<24} pid {process.pid:<8} port {port!s:<6} {state:<8} log {process.log}")
    for name in (name for name, up in alive.items() if not up):
        print(f"{name} is not running: `vmop dev restart {name}` (or `vmop dev up`) starts it again")
    ready = plane.ready()
    where = "existing cluster" if plane.existing_cluster else plane.server
    print(f"readyz ({where}): {'ok' if ready else 'NOT READY'}")
    print(f"kubeconfig: {plane.kubeconfig}")
    return 0 if ready and all(alive.values()) else NOT_UP


def _restart(args: argparse.Namespace, state_dir: Path) -> int:
    plane = ControlPlane.load(state_dir)
    if plane is None:
        print(f"vmop dev restart: not up (nothing recorded in {state_dir}); run `vmop dev up`", file=sys.stderr)
        return NOT_UP
    name = COMPONENTS[args.component]
    if name not in plane.alive():
        started = ", ".join(plane.alive())
        print(f"vmop dev restart: {name} was not started by `vmop dev up` (started: {started})", file=sys.stderr)
        return NOT_UP
    process = plane.restart(name)
    print(f"vmop dev: {name} restarted (pid {process.pid}, log {process.log})", file=sys.stderr)
    return 0


def _passthrough(args: argparse.Namespace, state_dir: Path) -> int:
    plane = ControlPlane.load(state_dir)
    if plane is None:
        print(f"vmop dev {args.tool}: not up (nothing recorded in {state_dir}); run `vmop dev up`", file=sys.stderr)
        return NOT_UP
    tool_args: list[str] = args.args[1:] if args.args[:1] == ["--"] else args.args
    run = plane.kubectl if args.tool == "kubectl" else plane.helm
    return run(*tool_args, check=False, capture=False, timeout=None).returncode

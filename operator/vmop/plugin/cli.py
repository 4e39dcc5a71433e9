"""kubectl vmop (the kubectl-vmop console script, found by kubectl on PATH): power, pause,
migrate, status, adopt, release and probe, for the VirtualMachines of one namespace.

Exit codes (docs/operations.md): 0 done; 1 the operation failed or did not happen (a migration
Failed or Aborted, a restart of a VM that is not running, a release declined, a probe verdict of
FAIL); 2 usage error; 3 not found; 4 timed out waiting (the change stays asked for); 5 the
apiserver refused or could not be reached.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from vmop.api import GROUP
from vmop.api.annotations import ANNOTATION_FORCE_RELEASE, ANNOTATION_PAUSED
from vmop.api.conditions import READY
from vmop.api.crd import VIRTUAL_MACHINE, VM_MIGRATION, Kind
from vmop.api.vmmigration import FINISHED
from vmop.plugin import render
from vmop.plugin.kube import Kube, KubeError, NotFound

OK = 0
FAILED = 1
USAGE = 2  # argparse's own exit status for a bad command line
NOT_FOUND = 3
TIMEOUT = 4
API_ERROR = 5
INTERRUPTED = 130

DEFAULT_WAIT_SECONDS = 600
POLL_SECONDS = 1.0
YES = ("y", "yes")


class TimedOut(Exception):
    """A wait ran out; the message says what was waited for."""


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # Global flags go anywhere, as kubectl's do: read them first, then the command line without them.
    global_args, rest = _global_parser().parse_known_args(arguments)
    args = build_parser().parse_args(rest)
    for key, value in vars(global_args).items():
        setattr(args, key, value)
    command: Callable[[argparse.Namespace], int] = args.func
    try:
        return command(args)
    except NotFound as error:
        print(f"Error: {error}", file=sys.stderr)
        return NOT_FOUND
    except TimedOut as error:
        print(f"Error: timed out waiting for {error}", file=sys.stderr)
        return TIMEOUT
    except KubeError as error:
        print(f"Error from the apiserver: {error}", file=sys.stderr)
        return API_ERROR
    except KeyboardInterrupt:
        return INTERRUPTED


def _add_globals(parser: argparse.ArgumentParser, *, suppress: bool, kubeconfig: bool = True) -> None:
    """The flags every command takes; ``suppress``: listed in a command's help, parsed beforehand."""
    group = parser.add_argument_group("global flags")

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group.add_argument("-n", "--namespace", default=default(None), help="default: the kubeconfig context's")
    if kubeconfig:
        group.add_argument("--kubeconfig", default=default(None), help="default: $KUBECONFIG, else ~/.kube/config")
    group.add_argument("--context", default=default(None), help="kubeconfig context (default: the current one)")
    group.add_argument("-o", "--output", choices=render.FORMATS, default=default("table"), help="default: table")


def _global_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl vmop", add_help=False, allow_abbrev=False)
    _add_globals(parser, suppress=False)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl vmop", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _add_globals(parser, suppress=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        made = sub.add_parser(name, help=help_, description=help_)
        _add_globals(made, suppress=True, kubeconfig=name != "probe")
        made.set_defaults(func=func)
        return made

    for name, state, what in (("start", "Running", "start"), ("stop", "Stopped", "stop (graceful, then hard)")):
        power = command(name, _power, f"{what} a VirtualMachine: spec.powerState {state}")
        power.set_defaults(power_state=state)
        _add_vm_and_wait(power)
    restart = command("restart", _restart, "stop a running VirtualMachine, wait until it is stopped, start it")
    _add_vm_and_wait(restart)
    for name, paused in (("pause", True), ("unpause", False)):
        what = "stop vmop's platform calls for" if paused else "resume vmop's platform calls for"
        pause = command(name, _pause, f"{what} a VirtualMachine (the {ANNOTATION_PAUSED} annotation)")
        pause.set_defaults(paused=paused)
        pause.add_argument("name", metavar="NAME")

    migrate = command("migrate", _migrate, "move a VirtualMachine's VM: a VmMigration, followed to its end")
    migrate.add_argument("name", metavar="NAME")
    where = migrate.add_mutually_exclusive_group(required=True)
    where.add_argument("--to-host", metavar="HOST_UUID", help="a host in the VM's cluster (migrate)")
    where.add_argument("--to-cluster", metavar="CLUSTER_UUID", help="another cluster (cross_cluster_migrate)")
    cross = migrate.add_argument_group("--to-cluster needs (the platform asks for all)")
    for flag, what in (
        ("--host-uuid", "destination host uuid"),
        ("--host-ip", "destination host ip (the VM's host must reach it)"),
        ("--pool", "storage pool uuid for the new volumes"),
        ("--zone", "resource pool (zone) uuid"),
        ("--group", "VM group uuid in the destination"),
    ):
        cross.add_argument(flag, help=what)
    cross.add_argument("--tenant", help="destination tenant uuid (default: the VM's)")
    migrate.add_argument("--migration-name", help="the VmMigration's name (default: generated from NAME)")
    migrate.add_argument(
        "--migration-timeout", type=int, help="spec.timeoutSeconds: the platform's migration aborts after"
    )
    migrate.add_argument("--no-wait", action="store_true", help="create the VmMigration and return at once")
    migrate.add_argument("--timeout", type=float, help="stop waiting after SECONDS (default: until it ends)")

    status = command("status", _status, "phase, platform state, pending changes, last error, conditions, events")
    status.add_argument("name", metavar="NAME")

    adopt = command("adopt", _adopt, "a new VirtualMachine that takes over a VM already on the platform")
    adopt.add_argument("name", metavar="NAME")
    adopt.add_argument("--uuid", required=True, help="the platform VM's uuid (spec.adopt.uuid)")
    adopt.add_argument("--cluster", help="its cluster uuid (or spec.cluster in -f)")
    adopt.add_argument("--tenant", help="its tenant uuid (or spec.tenant in -f)")
    adopt.add_argument("--observe-only", action="store_true", help="only report its state; never change or delete it")
    adopt.add_argument(
        "-f",
        "--filename",
        type=Path,
        help="YAML or JSON: a VirtualMachine (or its spec) with the VM's shape: cpu, memory, disks, interfaces...",
    )

    release = command(
        "release", _release, f"let vmop go of a VirtualMachine without platform calls ({ANNOTATION_FORCE_RELEASE})"
    )
    release.add_argument("name", metavar="NAME")
    release.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    from vmop.probe import add_arguments as add_probe_arguments

    probe = command("probe", _probe, "check, read-only, that a compute endpoint answers as vmop needs (vmop probe)")
    add_probe_arguments(probe)
    return parser


def _add_vm_and_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--wait", action="store_true", help="wait until the VM is Ready in that power state")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_SECONDS,
        help=f"for waits, seconds (default {DEFAULT_WAIT_SECONDS})",
    )


def _kube(args: argparse.Namespace) -> Kube:
    return Kube(args.kubeconfig, args.context, args.namespace)


def _say(args: argparse.Namespace, obj: dict[str, Any], message: str) -> None:
    """``message`` for people (table), the object for scripts (json, yaml)."""
    print(message if args.output == "table" else render.dump(obj, args.output))


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ref(name: str, kind: Kind = VIRTUAL_MACHINE) -> str:
    """As kubectl names an object: virtualmachine.vmop.io/web-1."""
    return f"{kind.kind.lower()}.{GROUP}/{name}"


def _set_power(kube: Kube, name: str, state: str) -> tuple[dict[str, Any], bool]:
    """spec.powerState = state: (the object, whether it changed)."""
    vm = kube.get(VIRTUAL_MACHINE, name)
    if (vm.get("spec") or {}).get("powerState") == state:
        return vm, False
    if render.annotations_of(vm).get(ANNOTATION_PAUSED) == "true":
        _note(f"note: {ANNOTATION_PAUSED} is set on {name}: vmop acts on this once it is unpaused")
    return kube.patch(VIRTUAL_MACHINE, name, {"spec": {"powerState": state}}), True


def _wait_ready(kube: Kube, vm: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The VM once Ready (in its declared power state) for its current generation."""
    name, generation = vm["metadata"]["name"], vm["metadata"]["generation"]
    deadline = time.monotonic() + timeout
    for current in kube.follow(VIRTUAL_MACHINE, name, deadline):
        status = current.get("status") or {}
        ready = next((c for c in render.conditions(current) if c.get("type") == READY), None)
        if (
            (status.get("observedGeneration") or 0) >= generation
            and ready is not None
            and ready.get("status") == "True"
            and (ready.get("observedGeneration") or generation) >= generation
        ):
            return current
    raise TimedOut(f"{name} to be Ready in power state {vm['spec'].get('powerState')} ({timeout:g}s)")


def _power(args: argparse.Namespace) -> int:
    kube = _kube(args)
    vm, changed = _set_power(kube, args.name, args.power_state)
    message = f"{_ref(args.name)} powerState {args.power_state}" + ("" if changed else " (unchanged)")
    if args.wait:
        _note(f"waiting for {args.name} to be Ready ({args.power_state})")
        vm = _wait_ready(kube, vm, args.timeout)
        message += ", Ready"
    _say(args, vm, message)
    return OK


def _restart(args: argparse.Namespace) -> int:
    """A power cycle, two spec edits (Stopped, then once it is, Running): it applies pendingChanges,
    which the vmop.io/restart annotation (a reboot of the running guest) does not."""
    kube = _kube(args)
    vm = kube.get(VIRTUAL_MACHINE, args.name)
    declared = (vm.get("spec") or {}).get("powerState")
    if declared != "Running":
        print(f"Error: {args.name} is not running (spec.powerState {declared}): use start", file=sys.stderr)
        return FAILED
    deadline = time.monotonic() + args.timeout
    vm, _ = _set_power(kube, args.name, "Stopped")
    _note(f"stopping {args.name}")
    _wait_ready(kube, vm, deadline - time.monotonic())
    _note(f"{args.name} stopped; starting")
    vm, _ = _set_power(kube, args.name, "Running")
    message = f"{_ref(args.name)} restarted"
    if args.wait:
        vm = _wait_ready(kube, vm, max(1.0, deadline - time.monotonic()))
        message += ", Ready"
    _say(args, vm, message)
    return OK


def _pause(args: argparse.Namespace) -> int:
    kube = _kube(args)
    kube.get(VIRTUAL_MACHINE, args.name)  # a missing object is "not found", not a failed patch
    value = "true" if args.paused else None
    vm = kube.patch(VIRTUAL_MACHINE, args.name, {"metadata": {"annotations": {ANNOTATION_PAUSED: value}}})
    _say(args, vm, f"{_ref(args.name)} {'paused' if args.paused else 'unpaused'}")
    return OK


def _migration_spec(args: argparse.Namespace, vm: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"vmRef": {"name": args.name}}
    if args.migration_timeout is not None:
        spec["timeoutSeconds"] = args.migration_timeout
    if args.to_host:
        return spec | {"host": args.to_host}
    cross = {
        "cluster": args.to_cluster,
        "hostUuid": args.host_uuid,
        "hostIp": args.host_ip,
        "tenant": args.tenant or (vm.get("status") or {}).get("tenant") or vm["spec"]["tenant"],
        "pool": args.pool,
        "zone": args.zone,
        "group": args.group,
    }
    return spec | {"crossCluster": cross}


def _migrate(args: argparse.Namespace) -> int:
    if args.to_cluster:
        missing = [
            f"--{f.replace('_', '-')}"
            for f in ("host_uuid", "host_ip", "pool", "zone", "group")
            if not getattr(args, f)
        ]
        if missing:
            print(f"kubectl vmop migrate: error: --to-cluster needs {', '.join(missing)}", file=sys.stderr)
            return USAGE
    kube = _kube(args)
    vm = kube.get(VIRTUAL_MACHINE, args.name)
    metadata = {"name": args.migration_name} if args.migration_name else {"generateName": f"{args.name}-"}
    made = kube.create(VM_MIGRATION, {"metadata": metadata, "spec": _migration_spec(args, vm)})
    name = made["metadata"]["name"]
    _note(f"{_ref(name, VM_MIGRATION)} created")
    if args.no_wait:
        _say(args, made, render.table([render.migration_row(made)], render.MIGRATION_HEADERS))
        return OK
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    bar = render.ProgressBar(sys.stderr)
    last = made
    try:
        for last in kube.follow(VM_MIGRATION, name, deadline):
            status = last.get("status") or {}
            bar.show(status.get("phase") or "Pending", status.get("progress") or 0, status.get("message") or "")
            if status.get("phase") in FINISHED:
                break
        else:
            raise TimedOut(f"{_ref(name, VM_MIGRATION)} to finish ({args.timeout:g}s); it goes on")
    finally:
        bar.close()
    _say(args, last, render.table([render.migration_row(last)], render.MIGRATION_HEADERS))
    phase = (last.get("status") or {}).get("phase")
    if phase != "Succeeded":
        error = (last.get("status") or {}).get("lastError") or {}
        if error:
            _note(f"lastError: scode {error.get('scode')}: {error.get('message')} / {error.get('messageCn')}")
        return FAILED
    return OK


def _status(args: argparse.Namespace) -> int:
    kube = _kube(args)
    vm = kube.get(VIRTUAL_MACHINE, args.name)
    shown = render.summary(vm, kube.events(vm))
    print(render.summary_text(shown) if args.output == "table" else render.dump(shown, args.output))
    return OK


def _adopt(args: argparse.Namespace) -> int:
    if args.filename is None and not args.observe_only:
        print(
            "kubectl vmop adopt: error: give the VM's shape with -f FILE (cpu, memory, disks, interfaces, "
            "powerState; else the defaults, 1 vCPU and 1Gi, become its declared shape), or --observe-only",
            file=sys.stderr,
        )
        return USAGE
    spec: dict[str, Any] = {}
    metadata: dict[str, Any] = {"name": args.name}
    if args.filename is not None:
        loaded: Any = yaml.safe_load(args.filename.read_text())
        if not isinstance(loaded, dict):
            print(f"kubectl vmop adopt: error: {args.filename}: not a mapping", file=sys.stderr)
            return USAGE
        if "kind" in loaded:  # a whole manifest: its spec, labels and annotations
            spec = dict(loaded.get("spec") or {})
            given = loaded.get("metadata") or {}
            metadata |= {key: given[key] for key in ("labels", "annotations") if key in given}
        else:
            spec = dict(loaded)
    for key in ("cluster", "tenant"):
        spec[key] = getattr(args, key) or spec.get(key)
        if not spec[key]:
            print(f"kubectl vmop adopt: error: --{key} (or spec.{key} in -f) is required", file=sys.stderr)
            return USAGE
    spec["adopt"] = {"uuid": args.uuid, "observeOnly": args.observe_only}
    made = _kube(args).create(VIRTUAL_MACHINE, {"metadata": metadata, "spec": spec})
    what = "observes" if args.observe_only else "adopts"
    _say(args, made, f"{_ref(args.name)} created: it {what} platform VM {args.uuid}")
    return OK


def _release(args: argparse.Namespace) -> int:
    kube = _kube(args)
    vm = kube.get(VIRTUAL_MACHINE, args.name)
    uuid = (vm.get("status") or {}).get("uuid") or "(uuid not known)"
    deleting = bool(vm["metadata"].get("deletionTimestamp"))
    when = "now (it is being deleted)" if deleting else "when it is deleted"
    if not args.yes:
        question = (
            f"Force-release {_ref(args.name)} in {kube.namespace}? vmop lets go of it {when} without "
            f"calling the platform: VM {uuid} stays there, whatever the deletion policy. [y/N] "
        )
        print(question, end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer not in YES:
            _note("not released")
            return FAILED
    vm = kube.patch(VIRTUAL_MACHINE, args.name, {"metadata": {"annotations": {ANNOTATION_FORCE_RELEASE: "true"}}})
    follow_up = "" if deleting else f"; delete it to let go: kubectl delete vm {args.name} -n {kube.namespace}"
    _say(args, vm, f"{_ref(args.name)} force-released{follow_up}")
    return OK


def _probe(args: argparse.Namespace) -> int:
    """`vmop probe` itself: it prints its own report (``-o`` does not apply)."""
    from vmop.probe import run_probe

    return run_probe(args)

"""The ``vmop`` command: ``run`` the operator, ``probe`` a platform, ``sim`` the platform, ``crds``,
``dev`` control plane."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

NOT_YET = 2


def _not_yet(what: str) -> Callable[[argparse.Namespace], int]:
    def command(_: argparse.Namespace) -> int:
        print(f"vmop {what}: not yet implemented", file=sys.stderr)
        return NOT_YET

    return command


def _sim(args: argparse.Namespace) -> int:
    from vmop.sim.server import serve

    return serve(args)


def _probe(args: argparse.Namespace) -> int:
    from vmop.probe import run_probe

    return run_probe(args)


def _run(args: argparse.Namespace) -> int:
    from vmop.run import run

    return run(args)


# The Helm chart ships the same CRDs (tests/unit/test_chart_crds.py compares them byte for byte).
CHART_CRDS = Path("charts") / "vmop" / "crds"
API_REFERENCE = Path("docs") / "api-reference.md"
# crds/Kustomization (deploy/ takes the CRDs from it) lists every CRD file of its folder.
KUSTOMIZATION = "Kustomization"


def _list_in_kustomization(directory: Path) -> None:
    import yaml

    path = directory / KUSTOMIZATION
    if not path.is_file():
        return
    text = path.read_text()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    kustomization = yaml.safe_load(text)
    kustomization["resources"] = sorted(p.name for p in directory.glob("*.yaml"))
    path.write_text(header + yaml.safe_dump(kustomization, sort_keys=False))


def _crds(args: argparse.Namespace) -> int:
    from vmop.api.crd import write_crds

    outputs = args.output or [Path("crds"), *([CHART_CRDS] if CHART_CRDS.parent.is_dir() else [])]
    for output in outputs:
        for path in write_crds(output):
            print(path)
        _list_in_kustomization(output)
    if not args.output and API_REFERENCE.parent.is_dir():
        from vmop.api.reference import render

        API_REFERENCE.write_text(render())
        print(API_REFERENCE)
    return 0


def _dev(args: argparse.Namespace) -> int:
    from vmop.dev.cli import dev_command

    return dev_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vmop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from vmop.config import add_arguments as add_run_arguments

    run = sub.add_parser("run", help="run the operator against a kubeconfig and a compute endpoint")
    add_run_arguments(run)
    run.set_defaults(func=_run)

    from vmop.probe import add_arguments as add_probe_arguments

    probe = sub.add_parser("probe", help="check, read-only, that a compute endpoint answers as vmop needs")
    add_probe_arguments(probe)
    probe.set_defaults(func=_probe)

    crds = sub.add_parser("crds", help="write the CRDs generated from the models")
    crds.add_argument(
        "--output",
        type=Path,
        action="append",
        help="folder to write into, repeatable (default: crds, and charts/vmop/crds when that chart is here)",
    )
    crds.set_defaults(func=_crds)

    from vmop.sim.server import add_arguments as add_sim_arguments

    sim = sub.add_parser("sim", help="serve the compute API simulator")
    add_sim_arguments(sim)
    sim.set_defaults(func=_sim)

    from vmop.dev.cli import add_arguments as add_dev_arguments

    dev = sub.add_parser("dev", help="a local control plane: real etcd, kube-apiserver, controller-manager")
    add_dev_arguments(dev)
    dev.set_defaults(func=_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result

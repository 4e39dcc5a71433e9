"""``vmop sim``: serve the simulator over HTTP (or HTTPS with a test CA)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import get_args

from vmop.sim.dialect import Dialect
from vmop.sim.faults import Faults, Timings
from vmop.sim.platform import Platform
from vmop.sim.state import load_state
from vmop.sim.world import Seed, World, default_seed


def fault_help() -> str:
    """Every --fault key with what it does (from the Faults model)."""
    lines = ["fault keys (--fault JSON, or PUT /sim/faults):"]
    for name, field in Faults.model_fields.items():
        lines.append(f"  {name}: {field.description or ''}".rstrip(": "))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = fault_help()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--seed", type=Path, help="YAML/JSON world (clusters, hosts, tenants, ...); default: the doc's")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every compute API call")
    parser.add_argument("--boot-seconds", type=float, default=Timings().boot)
    parser.add_argument("--migration-seconds", type=float, default=Timings().migration)
    keys = "; ".join(f"{name}: {field.description or name}" for name, field in Faults.model_fields.items())
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help='fault settings merged in order, e.g. \'{"forced_scode": {"start": 20926}}\'. Keys: ' + keys,
    )
    dialect = parser.add_argument_group(
        "platform dialect (answers the compute doc leaves open; defaults: vmop's default profile)"
    )
    defaults = Dialect()
    for name, field in Dialect.model_fields.items():
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        if isinstance(default, bool):
            dialect.add_argument(flag, action="store_true", help=field.description)
            continue
        choices = list(get_args(field.annotation)) or None
        dialect.add_argument(
            flag,
            type=int if isinstance(default, int) else str,
            choices=choices,
            default=default,
            help=f"{field.description} (default {default})",
        )
    parser.add_argument(
        "--state-file",
        type=Path,
        help="keep the world (VMs, volumes, groups) in this JSON file across restarts",
    )
    parser.add_argument("--random-seed", type=int, default=0, help="makes injected faults reproducible")
    parser.add_argument("--token-file", type=Path, help="require this bearer token (read from the file)")
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)


def build_platform(args: argparse.Namespace) -> Platform:
    seed = Seed.load(args.seed) if args.seed else default_seed()
    faults: dict[str, object] = {"seed": args.random_seed, "latency_ms": args.latency_ms}
    for raw in args.fault:
        faults.update(json.loads(raw))
    timings = Timings(boot=args.boot_seconds, migration=args.migration_seconds)
    dialect = Dialect.model_validate({name: getattr(args, name) for name in Dialect.model_fields})
    world = World(seed)
    if args.state_file is not None and args.state_file.exists():
        load_state(world, args.state_file)
    return Platform(world, timings, Faults.model_validate(faults), dialect)


SIM_EXTRA = "vmop[sim]"


def serve(args: argparse.Namespace) -> int:
    try:  # not in the operator's image: the simulator's web stack is an extra
        import uvicorn

        from vmop.sim.app import create_app
    except ModuleNotFoundError as missing:
        raise SystemExit(
            f"vmop sim needs {missing.name}, which comes with {SIM_EXTRA}: pip install '{SIM_EXTRA}'"
        ) from None

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    token = args.token_file.read_text().strip() if args.token_file else None
    app = create_app(build_platform(args), token=token, state_file=args.state_file)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        ssl_certfile=str(args.tls_cert) if args.tls_cert else None,
        ssl_keyfile=str(args.tls_key) if args.tls_key else None,
    )
    return 0

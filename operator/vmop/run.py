"""`vmop run`: the operator process."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import kopf
import uvloop

from vmop.compute.profile import add_profile_arguments, profile_from_arguments
from vmop.config import OperatorConfig
from vmop.handlers.registry import build_registry
from vmop.logs import configure_logging
from vmop.runtime.kopf_settings import configure_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compute-url",
        default=os.environ.get("VMOP_COMPUTE_URL"),
        required=False,
        help="the compute API base URL (env VMOP_COMPUTE_URL)",
    )
    parser.add_argument(
        "--credentials-secret",
        default=os.environ.get("VMOP_CREDENTIALS_SECRET"),
        help="NAMESPACE/NAME of the Secret holding token or username/password (and ca.crt)",
    )
    parser.add_argument("--insecure-skip-verify", action="store_true", help="do not verify the platform's TLS")
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        dest="namespaces",
        help="watch this namespace (repeatable, globs allowed); default: all namespaces",
    )
    parser.add_argument("--resync-seconds", type=float, default=60.0)
    parser.add_argument("--max-concurrency", type=int, default=16, help="compute API requests in flight")
    parser.add_argument("--page-size", type=int, default=500, help="list page size (0: no paging, one list)")
    parser.add_argument("--default-deletion-policy", choices=["Delete", "Retain"], default="Delete")
    parser.add_argument("--liveness-port", type=int, default=8080)
    parser.add_argument("--metrics-port", type=int, default=8081, help="Prometheus /metrics (0: off)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--peering", default=None, help="kopf peering name (hot standby); default: standalone")
    parser.add_argument(
        "--peering-priority",
        type=int,
        default=0,
        help="with --peering: the highest priority acts, lower ones stand by (equal priorities all pause)",
    )
    parser.add_argument(
        "--peering-lifetime",
        type=int,
        default=60,
        help="with --peering: seconds until a silent (killed) peer counts as gone and a standby takes over",
    )
    parser.add_argument("--kubeconfig", type=Path, default=None)
    parser.add_argument(
        "--kube-qps",
        type=float,
        default=100.0,
        help="vmop's Kubernetes requests a second after the burst (as client-go's qps); an overloaded "
        "apiserver (429, timeouts) pauses all of them",
    )
    parser.add_argument(
        "--kube-burst", type=int, default=200, help="Kubernetes requests at once before --kube-qps applies"
    )
    parser.add_argument(
        "--compute-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for a create, power, shape or device call "
        "(reads wait 15 s; save, restore, shutoff and deletes 300 s)",
    )
    parser.add_argument(
        "--create-grace-seconds",
        type=float,
        default=None,
        help="after a create with no known outcome (crash, timeout), wait this long for the platform to finish it "
        "before creating again (default: twice --compute-timeout)",
    )
    parser.add_argument(
        "--duplicate-guard-seconds",
        type=float,
        default=3600.0,
        help="a second create for an object that created a VM this recently waits for a person (0: off)",
    )
    add_profile_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if not args.compute_url:
        raise SystemExit("vmop run: --compute-url (or VMOP_COMPUTE_URL) is required")
    config = OperatorConfig(
        compute_url=args.compute_url,
        credentials_secret=args.credentials_secret,
        insecure_skip_verify=args.insecure_skip_verify,
        namespaces=args.namespaces,
        resync_seconds=args.resync_seconds,
        max_concurrency=args.max_concurrency,
        page_size=args.page_size,
        default_deletion_policy=args.default_deletion_policy,
        liveness_port=args.liveness_port,
        metrics_port=args.metrics_port,
        log_format=args.log_format,
        log_level=args.log_level,
        peering=args.peering,
        peering_priority=args.peering_priority,
        peering_lifetime=args.peering_lifetime,
        kubeconfig=args.kubeconfig,
        kube_qps=args.kube_qps,
        kube_burst=args.kube_burst,
        compute_timeout=args.compute_timeout,
        create_grace_seconds=args.create_grace_seconds,
        duplicate_guard_seconds=args.duplicate_guard_seconds,
        profile=profile_from_arguments(args),
    )
    configure_logging(config.log_level, config.log_format)
    if config.kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(config.kubeconfig)
    settings = kopf.OperatorSettings()
    configure_settings(settings, config)
    # uvloop, as kopf's own CLI does: its sockets and TLS cost the event loop a fraction of
    # asyncio's, and at thousands of objects the event loop is what bounds vmop (bench/).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(
            kopf.operator(
                registry=build_registry(config),
                settings=settings,
                clusterwide=not config.namespaces,
                namespaces=config.namespaces,
                standalone=config.peering is None,
                peering_name=config.peering,
                liveness_endpoint=f"http://0.0.0.0:{config.liveness_port}/healthz",
                memo=kopf.Memo(),
            )
        )
    return 0

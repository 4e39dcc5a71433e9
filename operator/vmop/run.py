"""`vmop run`: the operator process."""

from __future__ import annotations

import argparse
import asyncio
import os

import kopf
import uvloop
from pydantic import ValidationError

from vmop.config import config_from_arguments, explain
from vmop.handlers.registry import build_registry
from vmop.logs import configure_logging
from vmop.runtime.kopf_settings import configure_settings


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_arguments(args)
    except ValidationError as error:
        raise SystemExit(f"vmop run: {explain(error)}") from None
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

"""The floor: a minimal kopf operator on vmop's VirtualMachine CRD that only marks each new
object Ready in its status. No platform calls, no finalizer, no annotations: what kopf and the
apiserver themselves cost on this machine for N objects.

It uses the same kopf settings as vmop where they change the traffic (progress and diff-base in
status, events only for warnings, the same watch timeouts), so the difference to vmop is vmop's
own work.

    python bench/floor_operator.py --kubeconfig KUBECONFIG --namespace NS [--liveness-port 8080]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf

GROUP, VERSION, PLURAL = "vmop.io", "v1alpha1", "virtualmachines"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def mark_ready(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    generation = int(body.metadata.get("generation", 0))
    patch.status["phase"] = "Running"
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Available",
            "message": "marked Ready by the benchmark's floor operator",
            "lastTransitionTime": _now(),
            "observedGeneration": generation,
        }
    ]


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry)(kopf.login_with_kubeconfig)
    kopf.on.create(GROUP, VERSION, PLURAL, id="ready", registry=registry)(mark_ready)
    return registry


def settings() -> kopf.OperatorSettings:
    result = kopf.OperatorSettings()
    result.persistence.progress_storage = kopf.StatusProgressStorage()
    result.persistence.diffbase_storage = kopf.StatusDiffBaseStorage()
    result.watching.server_timeout = 300
    result.watching.client_timeout = 330
    result.networking.request_timeout = 60
    result.posting.level = logging.WARNING
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--namespace", "-n", action="append", default=[], dest="namespaces")
    parser.add_argument("--liveness-port", type=int, default=8080)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    os.environ["KUBECONFIG"] = str(args.kubeconfig)
    asyncio.run(
        kopf.operator(
            registry=build_registry(),
            settings=settings(),
            clusterwide=not args.namespaces,
            namespaces=args.namespaces,
            standalone=True,
            liveness_endpoint=f"http://0.0.0.0:{args.liveness_port}/healthz",
        )
    )


if __name__ == "__main__":
    main()

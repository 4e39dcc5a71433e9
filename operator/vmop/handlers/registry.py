"""The operator's handlers in one registry, built from its configuration."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from vmop.config import OperatorConfig
from vmop.handlers import watch
from vmop.runtime.compose import start_runtime
from vmop.runtime.kopf_settings import limit_observation


def build_registry(config: OperatorConfig) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    # kopf's own readers: in-cluster service account, else $KUBECONFIG read at login time
    # (`vmop run --kubeconfig` sets it), without the client library's import-time defaults.
    kopf.on.login(registry=registry)(kopf.login_with_service_account)
    kopf.on.login(registry=registry)(kopf.login_with_kubeconfig)

    async def startup(
        memo: kopf.Memo,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        settings: kopf.OperatorSettings,
        **_: Any,
    ) -> None:
        memo.runtime = await start_runtime(config, logger)
        await limit_observation(memo.runtime.kube, config, settings, logger)  # before kopf's observers start

    async def cleanup(memo: kopf.Memo, **_: Any) -> None:
        runtime = getattr(memo, "runtime", None)
        if runtime is not None:
            await runtime.close()

    kopf.on.startup(registry=registry)(startup)
    kopf.on.cleanup(registry=registry)(cleanup)
    watch.register(registry, providers=config.compute_providers)
    return registry

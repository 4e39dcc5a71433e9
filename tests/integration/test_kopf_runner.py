"""vmop's kopf registry run in-process (kopf.testing.KopfRunner) against the real apiserver and the
simulator: handlers only hand watch events to the engine, and the engine's passes do the rest."""

from __future__ import annotations

import os
from pathlib import Path

import kopf
import pytest
from kopf.testing import KopfRunner
from tests.integration.test_virtualmachine_lifecycle import manifest, unique
from tests.support.processes import Kube, SimProcess, condition, wait_for

from vmop.api.annotations import FINALIZER
from vmop.config import OperatorConfig
from vmop.dev.controlplane import ControlPlane
from vmop.handlers.registry import build_registry
from vmop.runtime.kopf_settings import configure_settings

pytestmark = pytest.mark.integration


def test_the_registry_in_process_makes_a_vm_ready_and_deletes_it(
    control_plane: ControlPlane, kube: Kube, sim: SimProcess, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    config = OperatorConfig(
        compute_url=sim.url,
        namespaces=[namespace],
        resync_seconds=2.0,
        metrics_port=0,
        kubeconfig=Path(os.environ["KUBECONFIG"]),
        create_grace_seconds=6,
    )
    settings = kopf.OperatorSettings()
    configure_settings(settings, config)
    name = unique("runner")
    with KopfRunner(
        ["run", "--standalone", f"--namespace={namespace}"],
        registry=build_registry(config),
        settings=settings,
        timeout=60,
    ) as runner:
        kube.apply(manifest(name))
        ready = wait_for(
            lambda: (
                (o := kube.get("virtualmachine", name)) and (condition(o, "Ready") or {}).get("status") == "True" and o
            ),
            timeout=40,
            what="Ready",
        )
        assert FINALIZER in ready["metadata"]["finalizers"]
        assert "kopf" not in ready["status"], "kopf writes nothing to the object"
        uuid = ready["status"]["uuid"]
        kube.delete("virtualmachine", name)
        wait_for(lambda: kube.get("virtualmachine", name) is None, timeout=40, what="deleted")
        assert not [vm for vm in sim.vms(ready["spec"]["cluster"], ready["spec"]["tenant"]) if vm["uuid"] == uuid]
    assert runner.exception is None, runner.exception
    assert runner.exit_code == 0, runner.output[-3000:]
    assert "Traceback" not in runner.output, runner.output[-3000:]

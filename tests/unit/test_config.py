"""The operator's configuration (config.py), stated once: `vmop run`'s flags, with the names the chart
and the docs use, and VMOP_* environment variables fill one model; a flag wins over its variable."""

from __future__ import annotations

import os
import warnings

import kopf
import pytest
from pydantic import ValidationError

from vmop.cli import build_parser
from vmop.compute.profile import PlatformProfile
from vmop.compute.scodes import Scode
from vmop.config import ENV_PREFIX, OperatorConfig, config_from_arguments, explain
from vmop.runtime.kopf_settings import IDLE_WORKER_SECONDS, KOPF_FINALIZER, configure_settings

URL = "https://hci.example"


def configured(*flags: str) -> OperatorConfig:
    return config_from_arguments(build_parser().parse_args(["run", *flags]))


@pytest.fixture(autouse=True)
def no_vmop_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)


def test_the_defaults_are_the_model_s() -> None:
    config = configured(f"--compute-url={URL}")
    assert config == OperatorConfig(compute_url=URL)
    assert (config.resync_seconds, config.kube_qps, config.namespaces) == (60.0, 500.0, [])
    assert config.profile == PlatformProfile()
    assert config.insecure_skip_verify is False


def test_every_flag_the_chart_and_docs_name_is_read() -> None:
    config = configured(
        f"--compute-url={URL}",
        "--credentials-secret=vmop/creds",
        "--insecure-skip-verify",
        "--namespace=team-a",
        "-n",
        "team-b",
        "--resync-seconds=45",
        "--max-concurrency=4",
        "--page-size=0",
        "--default-deletion-policy=Retain",
        "--liveness-port=9000",
        "--metrics-port=0",
        "--log-level=ERROR",
        "--log-format=json",
        "--peering=vmop",
        "--peering-priority=2",
        "--peering-lifetime=30",
        "--shards=3",
        "--shard-index=2",
        "--lease=vmop-a",
        "--lease-namespace=vmop-system",
        "--lease-duration=20",
        "--kubeconfig=/tmp/kubeconfig",
        "--kube-qps=5",
        "--kube-burst=10",
        "--compute-timeout=20",
        "--create-grace-seconds=90",
        "--duplicate-guard-seconds=0",
        "--not-found-scode=1",
        "--not-found-scode=2",
        "--busy-scode=3",
        "--agent-missing-scode=4",
        "--page-param=page_num",
    )
    assert config.credentials_secret == "vmop/creds" and config.insecure_skip_verify
    assert config.namespaces == ["team-a", "team-b"]
    assert (config.resync_seconds, config.max_concurrency, config.page_size) == (45.0, 4, 0)
    assert (config.default_deletion_policy, config.liveness_port, config.metrics_port) == ("Retain", 9000, 0)
    assert (config.log_level, config.log_format) == ("ERROR", "json")
    assert (config.peering, config.peering_priority, config.peering_lifetime) == ("vmop", 2, 30)
    assert (config.shards, config.shard_index, config.lease_name) == (3, 2, "vmop-a")
    assert (config.lease_namespace, config.lease_duration) == ("vmop-system", 20.0)
    assert str(config.kubeconfig) == "/tmp/kubeconfig"
    assert (config.kube_qps, config.kube_burst) == (5.0, 10)
    assert (config.compute_timeout, config.create_grace, config.duplicate_guard_seconds) == (20.0, 90.0, 0.0)
    assert config.profile == PlatformProfile(
        not_found_scodes=frozenset({1, 2}),
        busy_scodes=frozenset({3}),
        agent_missing_scodes=frozenset({4}),
        page_params=("page_num",),
    )


def test_variables_fill_what_no_flag_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VMOP_COMPUTE_URL", URL)
    monkeypatch.setenv("VMOP_CREDENTIALS_SECRET", "vmop/creds")
    monkeypatch.setenv("VMOP_RESYNC_SECONDS", "30")
    monkeypatch.setenv("VMOP_NAMESPACES", '["team-a"]')
    monkeypatch.setenv("VMOP_PROFILE__BUSY_SCODES", "[7]")
    config = configured("--resync-seconds=10")
    assert (config.compute_url, config.credentials_secret) == (URL, "vmop/creds")
    assert config.resync_seconds == 10.0, "the flag wins"
    assert config.namespaces == ["team-a"]
    assert config.profile.busy_scodes == frozenset({7})
    assert config.profile.not_found_scodes == frozenset({Scode.VM_NOT_FOUND})


def test_a_missing_or_bad_option_is_named_by_flag_and_variable() -> None:
    with pytest.raises(ValidationError) as missing:
        configured("--resync-seconds=0")
    said = explain(missing.value)
    assert "--compute-url (env VMOP_COMPUTE_URL): Field required" in said
    assert "--resync-seconds (env VMOP_RESYNC_SECONDS): Input should be greater than 0" in said


def test_vmop_run_stops_with_the_explanation() -> None:
    from vmop.run import run

    with pytest.raises(SystemExit, match=r"vmop run: --compute-url \(env VMOP_COMPUTE_URL\): Field required"):
        run(build_parser().parse_args(["run"]))


def test_shards_take_a_lease_and_an_index_outside_them_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured(f"--compute-url={URL}").lease_name is None, "one process, no Lease unless asked"
    assert configured(f"--compute-url={URL}", "--shards=2").lease_name == "vmop", "shards never run unleased"
    monkeypatch.setenv("VMOP_SHARD_INDEX", "1")  # as the chart's StatefulSet sets it from the pod's ordinal
    assert configured(f"--compute-url={URL}", "--shards=2").shard_index == 1
    with pytest.raises(ValidationError) as outside:
        configured(f"--compute-url={URL}", "--shards=2", "--shard-index=2")
    assert explain(outside.value) == "--shard-index 2 is not one of the 2 --shards (0..1)"


def test_kopf_is_set_up_with_no_deprecated_setting() -> None:
    """kopf renamed some settings (``batching`` is ``queueing``): a deprecated alias warns."""
    settings = kopf.OperatorSettings()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        configure_settings(settings, OperatorConfig(compute_url=URL))
    assert settings.queueing.idle_timeout == IDLE_WORKER_SECONDS
    assert settings.persistence.finalizer == KOPF_FINALIZER
    assert settings.posting.enabled is False

"""The planner's rules for what comes from Secrets (cloud-init data, a console password) and for
the floppy and usb devices: each the doc's state rule, and no Secret value in anything shown."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pydantic import SecretStr

from tests.support.reconcile import REPOSITORY, VM_UUID, context, memory, observed, shape, spec
from tests.support.simulation import CLUSTER, TENANT
from vmop.compute.models import CloudInitData, ComputeIdentifier
from vmop.compute.requests import (
    CloudInitSetRequest,
    FloppyAttachRequest,
    GraphicsPasswordSetRequest,
    StartRequest,
    UnifiedCreateRequest,
    UsbAttachRequest,
    UsbDetachRequest,
)
from vmop.reconcile.changes import Change, Owned, plan_changes
from vmop.reconcile.drift import list_suggests_drift
from vmop.reconcile.observed import ObservedUsb, Shape
from vmop.reconcile.secrets import (
    SecretInputs,
    SecretProblem,
    cloud_init_digest,
    cloud_init_from,
    console_password_from,
    password_digest,
)
from vmop.reconcile.virtualmachine import Plan, plan_virtual_machine

IDENT = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=VM_UUID, compute_name="vm1")
PASSWORD = "s3cret-vnc-Passw0rd"
USER_DATA = "#cloud-config\nchpasswd:\n  list: ['root:Hunter2-root-password']\n"
DATA = CloudInitData(user_data=USER_DATA)
CLOUD_INIT: dict[str, Any] = {"secretRef": {"name": "vm1-cloud-init"}}
CONSOLE: dict[str, Any] = {"passwordSecretRef": {"name": "vm1-console", "key": "password"}}
FLOPPY = "virt.vfd"
HOST = "27b506e4-ed2d-4c78-b723-e5fe77303d93"
REDIRECT: dict[str, Any] = {
    "name": "key",
    "type": "Redirect",
    "bus": 1,
    "port": 2,
    "host": HOST,
    "hostBus": 1,
    "hostDevice": 3,
}


def _plan(
    wanted: Any,
    *,
    state: str = "running",
    vm_shape: Shape | None = None,
    secrets: SecretInputs | None = None,
    **kept: Any,
) -> Plan:
    seen = observed(state, vm_shape=vm_shape or shape())
    return plan_virtual_machine(wanted, context(secrets=secrets or SecretInputs()), replace(memory(), **kept), seen, [])


def _shown(plan: Plan) -> str:
    """Everything a plan could put in status, events or logs."""
    return " ".join([plan.verdict.message, *plan.pending_changes, *(str(c) for c in plan.calls), repr(plan)])


# ---------------------------------------------------------------- reading Secrets


def test_cloud_init_from_a_secret_takes_its_three_keys() -> None:
    data = cloud_init_from("s", {"userData": USER_DATA, "metaData": "hostname: vm1", "networkData": '{"links": []}'})
    assert (data.user_data, data.meta_data, data.network_data) == (USER_DATA, {"hostname": "vm1"}, {"links": []})
    assert cloud_init_from("s", {"userData": '{"set_passwd": {}}'}).user_data == {"set_passwd": {}}  # the doc's form


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({}, "has none of the keys"),
        ({"metaData": f"- {PASSWORD}"}, "not a YAML or JSON mapping"),
        ({"metaData": f"{{{PASSWORD}"}, "mapping"),
    ],
)
def test_an_unusable_cloud_init_secret_is_said_without_its_value(data: dict[str, str], said: str) -> None:
    with pytest.raises(SecretProblem) as raised:
        cloud_init_from("vm1-cloud-init", data)
    assert said in str(raised.value) and "vm1-cloud-init" in str(raised.value) and PASSWORD not in str(raised.value)


def test_a_console_password_needs_its_key() -> None:
    assert console_password_from("c", "password", {"password": PASSWORD}).get_secret_value() == PASSWORD
    with pytest.raises(SecretProblem, match="no key password"):
        console_password_from("c", "password", {"other": PASSWORD})


def test_digests_are_salted_by_the_vm_and_never_the_value() -> None:
    one, other = password_digest("vm-a", SecretStr(PASSWORD)), password_digest("vm-b", SecretStr(PASSWORD))
    assert one != other and one.startswith("sha256:") and PASSWORD not in one
    assert cloud_init_digest("vm-a", DATA) == cloud_init_digest("vm-a", CloudInitData(user_data=USER_DATA))
    assert cloud_init_digest("vm-a", DATA) != cloud_init_digest("vm-a", CloudInitData(user_data=USER_DATA + "#"))


# ---------------------------------------------------------------- cloud-init


def test_the_create_sends_cloud_init_data_and_the_floppy() -> None:
    wanted = spec(cloud_init=CLOUD_INIT, floppy={"image": FLOPPY, "repository": REPOSITORY})
    plan = plan_virtual_machine(wanted, context(secrets=SecretInputs(cloud_init=DATA)), memory(uuid=None), None, [])
    request = plan.calls[0].request
    assert isinstance(request, UnifiedCreateRequest)
    assert request.wire()["cloud_init_data"] == {"user_data": USER_DATA}
    assert request.floppy is not None and (request.floppy.name, request.floppy.repository_uuid) == (FLOPPY, REPOSITORY)
    assert "Hunter2" not in _shown(plan)


def test_changed_cloud_init_data_is_set_hot_and_unchanged_data_is_not() -> None:
    secrets = SecretInputs(cloud_init=DATA)
    changed = _plan(spec(cloud_init=CLOUD_INIT), secrets=secrets, cloud_init_digest="sha256:old")
    (call,) = changed.calls
    assert call.operation == "cloud_init/set" and isinstance(call.request, CloudInitSetRequest)
    assert call.request.cloud_init_data == DATA and "Hunter2" not in _shown(changed)
    same = _plan(spec(cloud_init=CLOUD_INIT), secrets=secrets, cloud_init_digest=cloud_init_digest(VM_UUID, DATA))
    assert same.calls == [] and same.verdict.message == "in sync"


def _shown_plan(shown: str | None, **kept: Any) -> Plan:
    seen = replace(observed(vm_shape=shape()), cloud_init=shown)
    wanted = spec(cloud_init=CLOUD_INIT)
    digest = cloud_init_digest(VM_UUID, DATA)
    secrets = SecretInputs(cloud_init=DATA)
    return plan_virtual_machine(
        wanted, context(secrets=secrets), replace(memory(), cloud_init_digest=digest, **kept), seen, []
    )


def test_the_first_cloud_init_read_after_a_set_is_taken_as_the_platforms_form_of_it() -> None:
    """A platform may answer cloud_init/get in its own form (the doc shows no round trip)."""
    learned = _shown_plan("sha256:platform-form")
    assert learned.calls == [] and learned.memory.cloud_init_shown == "sha256:platform-form"
    assert _shown_plan("sha256:platform-form", cloud_init_shown="sha256:platform-form").calls == []
    assert _shown_plan(cloud_init_digest(VM_UUID, DATA), cloud_init_shown="sha256:platform-form").calls == []
    assert _shown_plan(None, cloud_init_shown="sha256:platform-form").calls == []  # not read: not compared


def test_cloud_init_data_changed_on_the_platform_is_set_again_without_showing_it() -> None:
    drifted = _shown_plan("sha256:someone-elses", cloud_init_shown="sha256:platform-form")
    (call,) = drifted.calls
    assert call.operation == "cloud_init/set" and "differs from what vmop set" in call.reason
    assert "Hunter2" not in _shown(drifted)


def test_cloud_init_removed_from_the_spec_forgets_its_digest() -> None:
    plan = _plan(spec(), cloud_init_digest="sha256:old")
    assert plan.calls == [] and plan.memory.cloud_init_digest is None


def test_a_vm_with_cloud_init_starts_with_it() -> None:
    secrets = SecretInputs(cloud_init=DATA)
    plan = _plan(
        spec(cloud_init=CLOUD_INIT),
        state="shutoff",
        secrets=secrets,
        cloud_init_digest=cloud_init_digest(VM_UUID, DATA),
    )
    (start,) = plan.calls
    assert start.operation == "start" and isinstance(start.request, StartRequest) and start.request.cloud_init
    plain = _plan(spec(), state="shutoff")
    assert plain.calls[0].operation == "start" and not isinstance(plain.calls[0].request, StartRequest)


# ---------------------------------------------------------------- console password


@pytest.mark.parametrize("state", ["running", "shutoff"])
def test_a_changed_console_password_is_set_hot(state: str) -> None:
    secrets = SecretInputs(console_password=SecretStr(PASSWORD))
    plan = _plan(
        spec(console=CONSOLE, power_state="Running" if state == "running" else "Stopped"), state=state, secrets=secrets
    )
    (call,) = plan.calls
    assert call.operation == "graphics/password/set" and isinstance(call.request, GraphicsPasswordSetRequest)
    assert call.request.vnc_password is not None and call.request.vnc_password.get_secret_value() == PASSWORD
    assert call.request.wire()["vnc_password"] == PASSWORD  # on the wire only
    assert PASSWORD not in _shown(plan) and PASSWORD not in call.request.model_dump_json()


def test_an_unchanged_console_password_is_not_sent_again() -> None:
    secrets = SecretInputs(console_password=SecretStr(PASSWORD))
    kept = password_digest(VM_UUID, SecretStr(PASSWORD))
    assert _plan(spec(console=CONSOLE), secrets=secrets, console_password_digest=kept).calls == []


def test_console_vnc_is_the_meta_vnc_switch_sent_shut_off() -> None:
    plan = _plan(spec(console={"vnc": True}), vm_shape=shape(vnc=False))
    assert plan.calls == [] and plan.pending_changes == ["console.vnc"]


# ---------------------------------------------------------------- floppy and usb


def _changes(wanted: Any, vm_shape: Shape, owned: Owned | None = None) -> tuple[list[Change], list[str]]:
    return plan_changes(wanted, observed(vm_shape=vm_shape), IDENT, owned or memory().owned, name="vm1", group=None)


def test_a_floppy_is_inserted_and_ejected_hot() -> None:
    (insert,), _ = _changes(spec(floppy={"image": FLOPPY, "repository": REPOSITORY}), shape())
    assert (insert.call.operation, insert.hot) == ("floppy/attach", True)
    assert isinstance(insert.call.request, FloppyAttachRequest) and insert.call.request.source_network_name == FLOPPY
    (eject,), _ = _changes(spec(), shape(floppy=FLOPPY, floppy_repository=REPOSITORY))
    assert (eject.call.operation, eject.hot) == ("floppy/detach", True)
    assert _changes(spec(floppy={"image": FLOPPY, "repository": REPOSITORY}), shape(floppy=FLOPPY)) == ([], [])


def test_a_redirected_usb_device_is_attached_hot_at_its_port() -> None:
    (attach,), unsupported = _changes(spec(usb=[REDIRECT]), shape())
    assert unsupported == [] and (attach.call.operation, attach.hot, attach.needs_running) == (
        "usb/attach",
        True,
        False,
    )
    assert isinstance(attach.call.request, UsbAttachRequest)
    (item,) = attach.call.request.usb
    assert (item.redirect_usb_bus, item.redirect_usb_port, item.source_usb_host_uuid) == (1, 2, HOST)
    assert item.pass_through_usb_bus is None and item.spice_vmc_usb_bus is None
    present = shape(usbs=(ObservedUsb(1, 2, "redirect"),))
    assert _changes(spec(usb=[REDIRECT]), present) == ([], [])


def test_a_pass_through_usb_device_waits_for_the_vm_to_run() -> None:
    device = {**REDIRECT, "type": "PassThrough"}
    off = shape(ha_mode="off")
    stopped = _plan(spec(usb=[device], ha_mode="off", power_state="Stopped"), state="shutoff", vm_shape=off)
    assert stopped.calls == [] and stopped.pending_changes == ["usb[key]"]
    running = _plan(spec(usb=[device], ha_mode="off"), vm_shape=off)
    assert [c.operation for c in running.calls] == ["usb/attach"]


def test_only_usb_devices_vmop_attached_are_detached() -> None:
    present = shape(usbs=(ObservedUsb(1, 2, "redirect"), ObservedUsb(2, 4, "spice_vmc")))
    (detach,), _ = _changes(spec(), present, Owned({"root": memory().owned.disks["root"]}, {}, {"key": (1, 2)}))
    assert detach.call.operation == "usb/detach" and isinstance(detach.call.request, UsbDetachRequest)
    assert (detach.call.request.target_bus, detach.call.request.target_port) == (1, 2)
    assert _changes(spec(), present) == ([], [])  # the spice vmc port at 2-4 is the platform's: kept


def test_a_usb_port_taken_by_another_kind_of_device_is_reported() -> None:
    planned, unsupported = _changes(
        spec(usb=[{**REDIRECT, "bus": 2, "port": 4}]), shape(usbs=(ObservedUsb(2, 4, "spice_vmc"),))
    )
    assert planned == [] and len(unsupported) == 1 and unsupported[0].startswith("usb[key]")


def test_a_declared_usb_device_not_recorded_as_attached_asks_for_details() -> None:
    seen = observed(with_shape=False)
    kept = memory().owned
    assert not list_suggests_drift(spec(), seen, kept, name="vm1", group=None)
    assert list_suggests_drift(spec(usb=[REDIRECT]), seen, kept, name="vm1", group=None)
    recorded = Owned(kept.disks, kept.nics, {"key": (1, 2)})
    assert not list_suggests_drift(spec(usb=[REDIRECT]), seen, recorded, name="vm1", group=None)


def test_a_declared_usb_device_found_at_its_port_is_recorded() -> None:
    plan = _plan(spec(usb=[REDIRECT]), vm_shape=shape(usbs=(ObservedUsb(1, 2, "redirect"),)))
    assert plan.calls == [] and plan.memory.owned.usb == {"key": (1, 2)}

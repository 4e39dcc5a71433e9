"""A VirtualMachine with cloud-init and a console password from Secrets, a floppy and a usb device,
then its NIC moved to another network (modify/network, shut off): it converges on the simulator,
with the operator under the chart's namespaced Role; cloud-init data changed on the platform is set
again; and no Secret value shows in the operator's log, the namespace's Events, the object's status
or /metrics."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from tests.integration.test_virtualmachine_lifecycle import (
    CLUSTER,
    TENANT,
    manifest,
    platform_vm,
    status,
    unique,
    wait_ready,
)
from tests.support.processes import Kube, OperatorProcess, SimProcess, condition, wait_for

from vmop.dev.controlplane import ControlPlane

pytestmark = pytest.mark.integration

REPOSITORY = "c5c6e82d-e7ea-47bc-b422-f2d9c767b080"
HOST = "200e3364-e720-47e4-8b12-734422d6eae3"
OTHER_PORT_GROUP = "edc39bfd-339e-4c78-a0b9-aac517d42b39"  # network "mirror", cluster c1
ROOT_PASSWORD = "Root-Passw0rd-in-user-data-7f3a"
HOSTNAME_SECRET = "meta-hostname-9c21e"
VNC_PASSWORD = "vnc-Secret-4b8d21e6"
VNC_PASSWORD_ROTATED = "vnc-Rotated-0a9c77f1"
SECRET_VALUES = (ROOT_PASSWORD, HOSTNAME_SECRET, VNC_PASSWORD, VNC_PASSWORD_ROTATED)


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", "stringData": data}


def _leaked(text: str) -> list[str]:
    """The Secret values in ``text``, as they are or base64-encoded."""
    forms = {v: (v, base64.b64encode(v.encode()).decode()) for v in SECRET_VALUES}
    return [value for value, encoded in forms.items() if any(form in text for form in encoded)]


@pytest.mark.usefixtures("operator")
def test_a_vm_from_secrets_with_floppy_and_usb_converges_and_no_secret_value_shows(
    kube: Kube, sim: SimProcess, control_plane: ControlPlane, operator: OperatorProcess
) -> None:
    name = unique("secrets")
    # The doc's form of user_data, an object (the default profile takes no #cloud-config text).
    user_data = {"set_passwd": {"chpasswd": {"list": [f"root:{ROOT_PASSWORD}"]}}, "growpart": {"mode": "off"}}
    kube.apply(secret(f"{name}-init", userData=json.dumps(user_data), metaData=f"hostname: {HOSTNAME_SECRET}\n"))
    kube.apply(secret(f"{name}-console", password=VNC_PASSWORD))
    usb = {"name": "token", "type": "Redirect", "bus": 1, "port": 2, "host": HOST, "hostBus": 1, "hostDevice": 2}
    kube.apply(
        manifest(
            name,
            cloudInit={"secretRef": {"name": f"{name}-init"}},
            console={"vnc": True, "passwordSecretRef": {"name": f"{name}-console", "key": "password"}},
            floppy={"image": "virt.vfd", "repository": REPOSITORY},
            usb=[usb],
        )
    )
    uuid = wait_ready(kube, name, timeout=60)["status"]["uuid"]
    # The create made the VM with its cloud-init data and floppy; a pass that reads its details
    # attaches the usb device (the list shows none: status.usb says what vmop attached).
    found = wait_for(lambda: status(kube, name) if status(kube, name).get("usb") else None, what="status.usb")
    vm = platform_vm(sim, uuid)
    assert vm["state"] == "running" and vm["vnc_enable"] is True
    assert vm["floppy"] == {"name": "virt.vfd", "repository_uuid": REPOSITORY}
    assert {(u["bus"], int(u["port"]), u["source_type"]) for u in vm["usbs"]} >= {(1, 2, "redirect")}
    assert vm["vnc_password"] == VNC_PASSWORD
    cloud_init = sim.call("cloud_init/get", cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=uuid)
    sent = {k: v for k, v in cloud_init["data"]["cloud_init_data"].items() if v is not None}
    assert sent == {"user_data": user_data, "meta_data": {"hostname": HOSTNAME_SECRET}}
    assert sim.stats()["calls"].get("cloud_init/set", 0) == 0  # sent with the create, not again
    assert found["cloudInitDigest"].startswith("sha256:") and found["consolePasswordDigest"].startswith("sha256:")
    assert found["usb"] == [{"name": "token", "bus": 1, "port": 2}]

    # The NIC to another network: modify/network needs the VM shut off; updatePolicy Restart does that.
    kube.patch_spec(
        "virtualmachine",
        name,
        {
            "updatePolicy": "Restart",
            "interfaces": [{"name": "eth0", "network": "mirror", "portGroup": OTHER_PORT_GROUP}],
        },
    )

    def moved() -> dict[str, Any] | None:
        nic = platform_vm(sim, uuid)["interfaces"][0]
        return nic if nic["port_group"] == OTHER_PORT_GROUP else None

    nic = wait_for(moved, timeout=60, what="the NIC on the other port group")
    assert nic["interface_type"] == "mirror"
    after = wait_ready(kube, name, timeout=60)
    assert condition(after, "Synced")["status"] == "True", after["status"]
    assert platform_vm(sim, uuid)["state"] == "running"
    assert found["macs"] == after["status"]["macs"]  # the same NIC, moved: not replaced

    # A new console password is set hot, at a pass after the Secret changed.
    kube.apply(secret(f"{name}-console", password=VNC_PASSWORD_ROTATED))
    wait_for(
        lambda: platform_vm(sim, uuid)["vnc_password"] == VNC_PASSWORD_ROTATED, timeout=60, what="the new password"
    )
    wait_for(
        lambda: status(kube, name)["consolePasswordDigest"] != found["consolePasswordDigest"] or None,
        timeout=30,
        what="the new password's digest in status",
    )

    # Nowhere a person or a scraper looks shows a Secret value.
    events = control_plane.kubectl("get", "events", "-n", kube.namespace, "-o", "yaml").stdout
    shown = {
        "operator log": operator.output(),
        "events": events,
        "status": json.dumps(status(kube, name)),
        "metrics": httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).text,
    }
    assert {where: _leaked(text) for where, text in shown.items() if _leaked(text)} == {}
    assert "graphics/password/set" in events  # the search can find: the calls' Events are there


@pytest.mark.usefixtures("operator")
def test_a_missing_secret_says_so_and_nothing_is_created(kube: Kube, sim: SimProcess) -> None:
    name = unique("nosecret")
    kube.apply(manifest(name, cloudInit={"secretRef": {"name": f"{name}-absent"}}))

    def refused() -> dict[str, Any] | None:
        synced = condition(kube.get("virtualmachine", name), "Synced")
        return synced if synced and synced["reason"] == "SecretNotFound" else None

    synced = refused() or wait_for(refused, timeout=30, what="Synced=False SecretNotFound")
    assert synced["status"] == "False" and f"{name}-absent" in synced["message"]
    assert "uuid" not in status(kube, name) or status(kube, name)["uuid"] is None
    assert sim.vms(CLUSTER, TENANT, filter_name=name) == []
    # The Secret made: the VM follows at the next pass.
    kube.apply(secret(f"{name}-absent", metaData="hostname: late\n"))
    wait_ready(kube, name, timeout=60)


@pytest.mark.usefixtures("operator")
def test_cloud_init_data_changed_on_the_platform_is_set_again_and_never_shown(
    kube: Kube, sim: SimProcess, control_plane: ControlPlane, operator: OperatorProcess
) -> None:
    name = unique("initdrift")
    user_data = {"set_passwd": {"chpasswd": {"list": [f"root:{ROOT_PASSWORD}"]}}}
    kube.apply(secret(f"{name}-init", userData=json.dumps(user_data)))
    kube.apply(manifest(name, cloudInit={"secretRef": {"name": f"{name}-init"}}))
    uuid = wait_ready(kube, name, timeout=60)["status"]["uuid"]
    kube.annotate("virtualmachine", name, **{"vmop.io/reconcile-request": "learn"})  # details: the platform's form
    learned = wait_for(lambda: status(kube, name).get("cloudInitShownDigest"), what="the platform's form learned")
    sets = sim.stats()["calls"].get("cloud_init/set", 0)
    other = {"runcmd": [f"echo {HOSTNAME_SECRET}"]}
    ident = {"cluster_uuid": CLUSTER, "tenant": TENANT, "compute_uuid": uuid}
    assert sim.call("cloud_init/set", {**ident, "cloud_init_data": {"user_data": other}})["scode"] == 0
    kube.annotate("virtualmachine", name, **{"vmop.io/reconcile-request": "drift"})

    def restored() -> dict[str, Any] | None:
        data = sim.call("cloud_init/get", **ident)["data"]["cloud_init_data"]
        return data if data.get("user_data") == user_data else None

    wait_for(restored, timeout=30, what="vmop's cloud-init data set again")
    assert sim.stats()["calls"].get("cloud_init/set", 0) == sets + 2  # someone else's, then vmop's
    kube.annotate("virtualmachine", name, **{"vmop.io/reconcile-request": "relearn"})  # learned again: the same
    wait_for(lambda: status(kube, name).get("cloudInitShownDigest") == learned or None, what="the form again")
    assert sim.stats()["calls"].get("cloud_init/set", 0) == sets + 2
    shown = {"operator log": operator.output(), "status": json.dumps(status(kube, name))}
    shown["events"] = control_plane.kubectl("get", "events", "-n", kube.namespace, "-o", "yaml").stdout
    assert {where: _leaked(text) for where, text in shown.items() if _leaked(text)} == {}

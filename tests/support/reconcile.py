"""Builders for the planner's inputs: specs, observations and memory, with readable defaults.

The default VM is the one the default spec describes, running and in sync: 1x1 vCPU, 1Gi, one
virtio root disk (vda) that vmop created, no NICs, no cdrom.
"""

from __future__ import annotations

from typing import Any

from tests.support.simulation import CLUSTER, POOL, PORT_GROUP, TENANT
from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.compute.rules import GIB
from vmop.reconcile.changes import Owned
from vmop.reconcile.observed import Observed, ObservedDisk, ObservedNic, Shape
from vmop.reconcile.virtualmachine import Context, Memory

VM_UUID = "6b1c2c8e-8d1f-4c1e-9a55-0c1f3f7b2a10"
OTHER_UUID = "0d4d7e21-5b8b-4a49-8f2e-58a4b1c7e3aa"
ROOT_VOLUME = "11111111-1111-4111-8111-111111111111"
DATA_VOLUME = "22222222-2222-4222-8222-222222222222"
SPARE_VOLUME = "33333333-3333-4333-8333-333333333333"
MAC_A = "52:56:ff:00:00:0a"
MAC_B = "52:56:ff:00:00:0b"
REPOSITORY = "c5c6e82d-e7ea-47bc-b422-f2d9c767b080"
ISO = "centos7x64.iso"
NAME = "vm1"
OBJECT_UID = "5e0b1c3a-7f61-4a0d-9d8f-2b7c4e6a9f01"
NOW = 1_700_000_000.0
ROOT_DISK = ObservedDisk("vda", "virtio", ROOT_VOLUME, 10 * GIB)


def spec(**fields: Any) -> VirtualMachineSpec:
    """A spec from snake_case fields over the defaults (one new 10Gi virtio root disk)."""
    base: dict[str, Any] = {
        "cluster": CLUSTER,
        "tenant": TENANT,
        "disks": [{"name": "root", "size": "10Gi", "pool": POOL, "bus": "virtio", "device": "vda"}],
    }
    return VirtualMachineSpec.model_validate({**base, **fields})


def shape(**fields: Any) -> Shape:
    base: dict[str, Any] = {
        "cpu_sockets": 1,
        "cpu_cores": 1,
        "cpu_current": 1,
        "memory": GIB,
        "disks": (ROOT_DISK,),
        "nics": (),
        "cdrom": "",
        "boot_order": ("vda",),
        "ha_mode": "on",
        "os_loader": "BIOS",
    }
    return Shape(**{**base, **fields})


def observed(
    state: str = "running",
    action: str = "noaction",
    agent: str = "connected",
    *,
    vm_shape: Shape | None = None,
    with_shape: bool = True,
    **fields: Any,
) -> Observed:
    base: dict[str, Any] = {
        "uuid": VM_UUID,
        "name": NAME,
        "cluster": CLUSTER,
        "tenant": TENANT,
        "host": "200e3364-e720-47e4-8b12-734422d6eae3" if state != "shutoff" else "",
        "group": "",
        "os": "CentOS x64",
        "created_at": int(NOW) - 3600,
    }
    made = vm_shape if vm_shape is not None else (shape() if with_shape else None)
    return Observed(state=state, action=action, agent=agent, shape=made, **{**base, **fields})


def nic(mac: str, *, inbound: tuple[int, int, int] = (0, 0, 0), network: str = "ycb123") -> ObservedNic:
    return ObservedNic(mac=mac, network=network, port_group=PORT_GROUP, model="virtio", inbound=inbound)


def memory(
    *,
    uuid: str | None = VM_UUID,
    disks: dict[str, str] | None = None,
    nics: dict[str, str] | None = None,
    create_pending_since: float | None = None,
    shutdown_requested_at: float | None = None,
) -> Memory:
    return Memory(
        uuid=uuid,
        create_pending_since=create_pending_since,
        shutdown_requested_at=shutdown_requested_at,
        owned=Owned({"root": ROOT_VOLUME} if disks is None else disks, nics or {}),
    )


def context(now: float = NOW, *, group: str | None = None, **fields: Any) -> Context:
    return Context(object_uid=OBJECT_UID, platform_name=NAME, group=group, now=now, **fields)

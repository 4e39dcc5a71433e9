"""What the real apiserver accepts as a VirtualMachine: OpenAPI checks, CEL rules, list-map keys,
defaults and immutability of crds/virtualmachines.yaml.

Every invalid manifest is one small mutation of BASE_SPEC, sent with ``--dry-run=server`` (nothing
is stored, so the corpus is fast and order-free); each must fail with an error that names the field
path and says the rule's message. Immutability needs stored objects: two are created once, and the
updates are dry-runs against them.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from vmop.api import API_VERSION
from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.dev.controlplane import ControlPlane

pytestmark = pytest.mark.integration

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "virtualmachines.yaml"
CRD_NAME = "virtualmachines.vmop.io"
NAMESPACE = "vmop-validation"
FIELD_MANAGER = "vmop-validation-test"

CLUSTER = "c27a25bc-5da2-430f-bfaf-6c8d33f21128"
TENANT = "a5badacf-a25c-4171-9aff-b619fc2d300a"
POOL = "42b3e3b6-b1d1-44c0-bf5c-b9cf73d594df"
PORT_GROUP = "239223b4-d21b-4b23-954f-796f17c75c49"
VOLUME = "0d7f2c1e-5b8a-4c3d-9e6f-1a2b3c4d5e6f"
TEMPLATE = "7e1c9a40-3f2b-4d6e-8a5c-0b9d8e7f6a51"
ADOPTED = "b3f1e2d4-6a7c-4e8f-9a0b-1c2d3e4f5a6b"
OTHER = "ffffffff-0000-4000-8000-000000000000"

Spec = dict[str, Any]
Manifest = dict[str, Any]
Mutation = Callable[[Spec], None]

BASE_SPEC: Final[Spec] = {
    "cluster": CLUSTER,
    "tenant": TENANT,
    "cpu": {"sockets": 1, "cores": 2},
    "memory": "2Gi",
    "disks": [{"name": "root", "bus": "scsi", "size": "20Gi", "pool": POOL}],
    "interfaces": [{"name": "eth0", "network": "ycb123", "portGroup": PORT_GROUP}],
}


# --- manifests and mutations ---------------------------------------------------------------------


def manifest(*mutations: Mutation, name: str = "web-1") -> Manifest:
    spec = copy.deepcopy(BASE_SPEC)
    for mutate in mutations:
        mutate(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


def _parent(spec: Spec, path: str) -> tuple[Any, str | int]:
    """The container holding the last segment of a dotted path (``disks.0.bus``), and that key."""
    *parents, last = path.split(".")
    node: Any = spec
    for segment in parents:
        node = node[int(segment)] if segment.isdigit() else node.setdefault(segment, {})
    return node, int(last) if last.isdigit() else last


def put(path: str, value: object) -> Mutation:
    def mutate(spec: Spec) -> None:
        node, key = _parent(spec, path)
        node[key] = copy.deepcopy(value)

    return mutate


def drop(path: str) -> Mutation:
    def mutate(spec: Spec) -> None:
        node, key = _parent(spec, path)
        del node[key]

    return mutate


def append(path: str, item: object) -> Mutation:
    def mutate(spec: Spec) -> None:
        node, key = _parent(spec, path)
        node[key].append(copy.deepcopy(item))

    return mutate


def chain(*mutations: Mutation) -> Mutation:
    def mutate(spec: Spec) -> None:
        for mutation in mutations:
            mutation(spec)

    return mutate


def volume_disk(name: str, **fields: object) -> dict[str, object]:
    return {"name": name, "volume": VOLUME, **fields}


# --- kubectl ---------------------------------------------------------------------------------------


def apply(plane: ControlPlane, document: Manifest, *flags: str) -> subprocess.CompletedProcess[str]:
    return plane.kubectl("apply", *flags, "-f", "-", stdin=json.dumps(document), check=False)


def dry_run_create(plane: ControlPlane, document: Manifest, *flags: str) -> subprocess.CompletedProcess[str]:
    return apply(plane, document, "--dry-run=server", *flags)


def dry_run_update(plane: ControlPlane, document: Manifest) -> subprocess.CompletedProcess[str]:
    """Server-side apply by the manager that created the object: fields left out are removed."""
    return apply(plane, document, "--server-side", f"--field-manager={FIELD_MANAGER}", "--dry-run=server", "-o", "json")


def _names(line: str, path: str) -> bool:
    """The line reports an error at exactly ``path`` (not at a parent or child of it)."""
    return re.search(rf'(?<![\w.\[\]]){re.escape(path)}(?=[:"])', line) is not None


def assert_rejected(result: subprocess.CompletedProcess[str], path: str, message: str) -> None:
    assert result.returncode != 0, f"accepted, expected an error at {path}: {message!r}\n{result.stdout}"
    lines = result.stderr.splitlines()
    assert any(_names(line, path) and message in line for line in lines), (
        f"no error at {path} saying {message!r}; the apiserver said:\n{result.stderr}"
    )


def assert_accepted(result: subprocess.CompletedProcess[str]) -> Manifest:
    assert result.returncode == 0, f"rejected:\n{result.stderr}"
    assert "Warning" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vm_crd(control_plane: ControlPlane) -> ControlPlane:
    """crds/virtualmachines.yaml as committed, applied server-side (the fixture installed it too;
    this re-applies the file under test and fails on any warning, e.g. about CEL cost)."""
    installed = control_plane.kubectl(
        "apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}", "-f", str(CRD_FILE)
    )
    assert "Warning" not in installed.stderr, installed.stderr
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD_NAME}")
    return control_plane


@pytest.fixture(scope="module")
def plane(vm_crd: ControlPlane) -> Iterator[ControlPlane]:
    """The control plane with the CRD and one namespace for the whole module."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    # On an existing cluster, the previous run's namespace may still be terminating.
    vm_crd.kubectl("wait", "--for=delete", f"namespace/{NAMESPACE}", "--timeout=60s")
    vm_crd.kubectl("apply", "-f", "-", stdin=json.dumps(namespace))
    yield vm_crd
    vm_crd.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")


STORED_TEMPLATE = "from-template"
STORED_ADOPTED = "adopted"


def stored_template(*mutations: Mutation) -> Manifest:
    return manifest(put("template", {"uuid": TEMPLATE}), *mutations, name=STORED_TEMPLATE)


def stored_adopted(*mutations: Mutation) -> Manifest:
    return manifest(put("adopt", {"uuid": ADOPTED}), *mutations, name=STORED_ADOPTED)


@pytest.fixture(scope="module")
def stored(plane: ControlPlane) -> ControlPlane:
    """Two VMs stored for real, the old side of the immutability checks."""
    for document in (stored_template(), stored_adopted()):
        assert_accepted(apply(plane, document, "--server-side", f"--field-manager={FIELD_MANAGER}", "-o", "json"))
    return plane


# --- the corpus of invalid manifests ---------------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    id: str
    mutation: Mutation
    path: str
    """where the apiserver reports the error, as it prints it (``spec.disks[0].bus``)"""
    message: str
    """what it says there: the rule's message, or the OpenAPI check's wording"""
    flags: tuple[str, ...] = ()


def _cases(*cases: Rejected) -> list[Any]:
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return [pytest.param(case, id=case.id) for case in cases]


MUST_BE_INTEGER = "must be of type integer"
AT_LEAST_1 = "should be greater than or equal to 1"
MEMORY_RULE = "memory must be a whole number of MiB from 1Mi to 256Gi"
PRINTABLE_RULE = "must not contain control characters (C0, DEL, C1) or bidirectional overrides"
MAC = "52:54:00:ab:cd:ef"
ONE_SOURCE = "a disk needs exactly one source: size (+pool) or volume"
DEVICE_RULE = "device does not match bus (ide: hd[a-c], scsi/sata: sd[a-o], virtio: vd[a-o])"
UUID_PATTERN_SAYS = "should match '^[0-9a-fA-F-]{1,64}$'"
NAME_PATTERN_SAYS = "should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
WRITE_CACHING_RULE = "writeback/writethrough caching is not possible on scsi"

WRONG_TYPES = _cases(
    Rejected("type-cpu.sockets-string", put("cpu.sockets", "two"), "spec.cpu.sockets", MUST_BE_INTEGER),
    Rejected("type-memory-integer", put("memory", 2), "spec.memory", "must be of type string"),
    Rejected(
        "type-disks-object",
        put("disks", {"name": "root", "volume": VOLUME}),
        "spec.disks",
        "must be of type array",
        # Strict field validation (kubectl's default) reports an object-for-list as the unknown
        # field "spec.disks.name" before the schema check; without it the real type error shows.
        flags=("--validate=false",),
    ),
    Rejected("type-cpu-list", put("cpu", [1, 2]), "spec.cpu", "must be of type object"),
    Rejected("type-deleteVolumes-string", put("deleteVolumes", "yes"), "spec.deleteVolumes", "must be of type boolean"),
    Rejected(
        "type-network-integer", put("interfaces.0.network", 5), "spec.interfaces[0].network", "must be of type string"
    ),
    Rejected("type-vlanIds-string", put("interfaces.0.vlanIds", "10"), "spec.interfaces[0].vlanIds", "of type array"),
    Rejected(
        "type-vlanIds-item-string",
        put("interfaces.0.vlanIds", ["10"]),
        "spec.interfaces[0].vlanIds[0]",
        MUST_BE_INTEGER,
    ),
    # YAML 1.1 reads a bare `on` as true: the manifest must quote it.
    Rejected("type-haMode-yaml-boolean", put("haMode", True), "spec.haMode", "must be of type string"),
    Rejected("type-unknown-field", put("cpus", 2), "spec.cpus", "unknown field"),
)

OUT_OF_RANGE = _cases(
    Rejected("range-cpu.sockets-0", put("cpu.sockets", 0), "spec.cpu.sockets", AT_LEAST_1),
    Rejected("range-cpu.sockets-65", put("cpu.sockets", 65), "spec.cpu.sockets", "less than or equal to 64"),
    Rejected("range-cpu.cores-0", put("cpu.cores", 0), "spec.cpu.cores", AT_LEAST_1),
    Rejected("range-cpu.current-0", put("cpu.current", 0), "spec.cpu.current", AT_LEAST_1),
    Rejected("range-memory-0", put("memory", "0"), "spec.memory", MEMORY_RULE),
    Rejected("range-memory-300Gi", put("memory", "300Gi"), "spec.memory", MEMORY_RULE),
    Rejected("range-memory-lots", put("memory", "lots"), "spec.memory", "should match '^[0-9]+(\\.[0-9]+)?"),
    # A one-byte VM, half a byte (mem_size 0), and sizes that are not whole MiB.
    Rejected("range-memory-1-byte", put("memory", "1"), "spec.memory", MEMORY_RULE),
    Rejected("range-memory-half-a-byte", put("memory", "0.5"), "spec.memory", MEMORY_RULE),
    Rejected("range-memory-1000k", put("memory", "1000k"), "spec.memory", MEMORY_RULE),
    Rejected("range-memory-1.5Mi", put("memory", "1.5Mi"), "spec.memory", MEMORY_RULE),
    Rejected("range-memory-1023Ki", put("memory", "1023Ki"), "spec.memory", MEMORY_RULE),
    Rejected(
        "range-vlanIds-99999",
        put("interfaces.0.vlanIds", [99999]),
        "spec.interfaces[0].vlanIds[0]",
        "should be less than or equal to 4094",
    ),
    Rejected(
        "range-vlanIds-negative",
        put("interfaces.0.vlanIds", [10, -1]),
        "spec.interfaces[0].vlanIds[1]",
        "should be greater than or equal to 0",
    ),
    Rejected(
        "range-network-empty",
        put("interfaces.0.network", ""),
        "spec.interfaces[0].network",
        "should be at least 1 chars long",
    ),
    Rejected(
        "range-shutdownTimeoutSeconds-negative",
        put("shutdownTimeoutSeconds", -1),
        "spec.shutdownTimeoutSeconds",
        "should be greater than or equal to 0",
    ),
    Rejected(
        "range-shutdownTimeoutSeconds-over-a-day",
        put("shutdownTimeoutSeconds", 86401),
        "spec.shutdownTimeoutSeconds",
        "should be less than or equal to 86400",
    ),
    Rejected(
        "range-vlanIds-17",
        put("interfaces.0.vlanIds", list(range(1, 18))),
        "spec.interfaces[0].vlanIds",
        "must have at most 16 items",
    ),
    Rejected(
        "range-disks-17",
        put("disks", [volume_disk(f"d{i}") for i in range(17)]),
        "spec.disks",
        "must have at most 16 items",
    ),
    Rejected(
        "range-disk-name-64-chars",
        put("disks.0.name", "d" * 64),
        "spec.disks[0].name",
        "may not be more than 63 bytes",
    ),
)

ENUMS = _cases(
    *(
        Rejected(f"enum-{path}", put(path, value), f"spec.{printed}", f'Unsupported value: "{value}"')
        for path, printed, value in (
            ("disks.0.bus", "disks[0].bus", "nvme"),
            ("disks.0.cacheMode", "disks[0].cacheMode", "unsafe"),
            ("powerState", "powerState", "Paused"),
            ("updatePolicy", "updatePolicy", "Never"),
            ("deletionPolicy", "deletionPolicy", "Orphan"),
            ("deleteMode", "deleteMode", "Shred"),
            ("haMode", "haMode", "maybe"),
            ("interfaces.0.model", "interfaces[0].model", "rtl8169"),
            ("meta.osLoader", "meta.osLoader", "EFI"),
            ("meta.panicModel", "meta.panicModel", "pvpanic"),
        )
    ),
    # Enums are case-sensitive.
    Rejected("enum-powerState-lower-case", put("powerState", "running"), "spec.powerState", "Unsupported value"),
)

PATTERNS = _cases(
    Rejected("pattern-cluster", put("cluster", "not-a-uuid!"), "spec.cluster", UUID_PATTERN_SAYS),
    Rejected("pattern-tenant", put("tenant", "tenant-zz"), "spec.tenant", UUID_PATTERN_SAYS),
    Rejected("pattern-zone", put("zone", "zone 1"), "spec.zone", UUID_PATTERN_SAYS),
    Rejected("pattern-disk-pool", put("disks.0.pool", "pool_1"), "spec.disks[0].pool", UUID_PATTERN_SAYS),
    Rejected(
        "pattern-disk-volume",
        put("disks", [volume_disk("root", volume="vol/1")]),
        "spec.disks[0].volume",
        UUID_PATTERN_SAYS,
    ),
    Rejected(
        "pattern-disk-image-uuid",
        put("disks.0.image", {"uuid": "image?", "repository": POOL}),
        "spec.disks[0].image.uuid",
        UUID_PATTERN_SAYS,
    ),
    Rejected("pattern-template-uuid", put("template", {"uuid": "tmpl!"}), "spec.template.uuid", UUID_PATTERN_SAYS),
    Rejected("pattern-adopt-uuid", put("adopt", {"uuid": ""}), "spec.adopt.uuid", UUID_PATTERN_SAYS),
    Rejected(
        "pattern-portGroup", put("interfaces.0.portGroup", "PG 1"), "spec.interfaces[0].portGroup", UUID_PATTERN_SAYS
    ),
    Rejected(
        "pattern-mac-upper-case",
        put("interfaces.0.mac", "52:54:00:AB:CD:EF"),
        "spec.interfaces[0].mac",
        "should match '^([0-9a-f]{2}:){5}[0-9a-f]{2}$'",
    ),
    Rejected(
        "pattern-device-sdz",
        put("disks.0.device", "sdz"),
        "spec.disks[0].device",
        "should match '^([hi]d[a-c]|sd[a-o]|vd[a-o])$'",
    ),
    Rejected("pattern-disk-name-upper-case", put("disks.0.name", "Root"), "spec.disks[0].name", NAME_PATTERN_SAYS),
    Rejected("pattern-interface-name", put("interfaces.0.name", "eth_0"), "spec.interfaces[0].name", NAME_PATTERN_SAYS),
    Rejected(
        "pattern-pci-address-slot-20",
        chain(put("haMode", "off"), put("pci", [{"name": "gpu", "address": "0000:3b:20.0"}])),
        "spec.pci[0].address",
        "should match",
    ),
)

PCI = {"name": "gpu", "address": "0000:3b:00.0"}
MDEV = {"name": "vgpu", "uuid": OTHER}

CEL_RULES = _cases(
    Rejected(
        "cel-pci-needs-ha-off",
        put("pci", [PCI]),
        "spec.haMode",
        "pci and mdev devices need haMode off",
    ),
    Rejected("cel-mdev-needs-ha-off", put("mdev", [MDEV]), "spec.haMode", "pci and mdev devices need haMode off"),
    Rejected(
        "cel-pci-addresses-unique",
        chain(put("haMode", "off"), put("pci", [PCI, {**PCI, "name": "gpu2"}])),
        "spec.pci",
        "pci device addresses must be unique",
    ),
    Rejected(
        "cel-memoryBalloon-over-memory",
        put("memoryBalloon", "3Gi"),
        "spec.memoryBalloon",
        "memoryBalloon must not exceed memory",
    ),
    Rejected(
        "cel-memoryBalloon-fraction-of-a-byte",
        put("memoryBalloon", "0.5"),
        "spec.memoryBalloon",
        "memoryBalloon must be a whole number of bytes",
    ),
    Rejected(
        "cel-cpu.max-not-sockets-times-cores", put("cpu.max", 3), "spec.cpu.max", "cpu.max must equal sockets * cores"
    ),
    Rejected(
        "cel-cpu.current-over-sockets-times-cores",
        put("cpu.current", 3),
        "spec.cpu.current",
        "cpu.current must not exceed sockets * cores",
    ),
    Rejected("cel-disk-size-and-volume", put("disks.0.volume", VOLUME), "spec.disks[0]", ONE_SOURCE),
    Rejected("cel-disk-without-source", append("disks", {"name": "data"}), "spec.disks[1]", ONE_SOURCE),
    Rejected(
        "cel-disk-size-without-pool", drop("disks.0.pool"), "spec.disks[0]", "a new volume needs both size and pool"
    ),
    Rejected(
        "cel-disk-volume-with-pool",
        append("disks", volume_disk("data", pool=POOL)),
        "spec.disks[1]",
        "a new volume needs both size and pool",
    ),
    Rejected(
        "cel-disk-image-without-size",
        append("disks", volume_disk("data", image={"uuid": TEMPLATE, "repository": POOL})),
        "spec.disks[1].image",
        "image import needs a new volume (size + pool)",
    ),
    *(
        Rejected(
            f"cel-device-{device}-on-{bus}",
            put("disks.0", {**BASE_SPEC["disks"][0], "bus": bus, "device": device}),
            "spec.disks[0].device",
            DEVICE_RULE,
        )
        for bus, device in (("ide", "sda"), ("scsi", "vda"), ("sata", "vdb"), ("virtio", "hda"))
    ),
    Rejected("cel-disk-size-0", put("disks.0.size", "0"), "spec.disks[0].size", "size must be a positive quantity"),
    Rejected("cel-disk-size-0Gi", put("disks.0.size", "0Gi"), "spec.disks[0].size", "size must be a positive quantity"),
    Rejected(
        "cel-writeback-on-scsi", put("disks.0.cacheMode", "writeback"), "spec.disks[0].cacheMode", WRITE_CACHING_RULE
    ),
    Rejected(
        "cel-writethrough-on-scsi",
        put("disks.0.cacheMode", "writethrough"),
        "spec.disks[0].cacheMode",
        WRITE_CACHING_RULE,
    ),
    Rejected(
        "cel-local-network-without-portGroup",
        drop("interfaces.0.portGroup"),
        "spec.interfaces[0].portGroup",
        "Required value: portGroup is required on a local network",
    ),
    Rejected(
        "cel-internal-network-without-switch",
        put("interfaces.0", {"name": "eth0", "network": "internal"}),
        "spec.interfaces[0].switch",
        "Required value: switch is required on the internal (VPC) network",
    ),
    Rejected(
        "cel-componentCache-without-linkedClone",
        put("template", {"uuid": TEMPLATE, "componentCache": True}),
        "spec.template.componentCache",
        "componentCache needs linkedClone",
    ),
    Rejected(
        "cel-groupRef-and-group",
        chain(put("groupRef", {"name": "web"}), put("group", OTHER)),
        "spec.group",
        "Forbidden: set groupRef or group, not both",
    ),
    Rejected(
        "cel-duplicate-devices",
        chain(put("disks.0.device", "sda"), append("disks", volume_disk("data", bus="scsi", device="sda"))),
        "spec.disks",
        "disk devices must be unique",
    ),
    Rejected(
        "cel-no-disks-from-scratch",
        put("disks", []),
        "spec.disks",
        "Required value: a VM created from scratch needs at least one disk",
    ),
    Rejected(
        "cel-disks-left-out-from-scratch",
        drop("disks"),
        "spec.disks",
        "Required value: a VM created from scratch needs at least one disk",
    ),
    Rejected(
        "cel-bootOrder-unknown-name",
        put("bootOrder", ["root", "cdrom"]),
        "spec.bootOrder",
        "bootOrder entries must name disks or interfaces",
    ),
)


def _disks(count: int, bus: str, first: int = 0) -> list[dict[str, object]]:
    return [volume_disk(f"d{first + i}", bus=bus) for i in range(count)]


# Text that reaches the platform and Events: control characters and bidi overrides are refused.
HOSTILE_TEXT = {
    "newline": "web\nprod",
    "tab": "web\tprod",
    "bel": "web\x07",
    "nul": "web\x00",
    "rlo": "web\u202egnp.exe",
}
TEXT_FIELDS = (
    ("name", "spec.name"),
    ("os", "spec.os"),
    ("type", "spec.type"),
    ("cpu.baseline", "spec.cpu.baseline"),
    ("interfaces.0.network", "spec.interfaces[0].network"),
    ("disks.0.image.name", "spec.disks[0].image.name"),
)

INPUT_LIMITS = _cases(
    Rejected(
        "cel-vcpus-over-1024",
        put("cpu", {"sockets": 64, "cores": 128}),
        "spec.cpu.cores",
        "sockets * cores must be at most 1024 vCPUs",
    ),
    Rejected(
        "cel-vcpus-1025",
        put("cpu", {"sockets": 5, "cores": 205}),
        "spec.cpu.cores",
        "sockets * cores must be at most 1024 vCPUs",
    ),
    Rejected(
        "cel-duplicate-macs",
        chain(
            put("interfaces.0.mac", MAC),
            append("interfaces", {"name": "eth1", "network": "internal", "switch": OTHER, "mac": MAC}),
        ),
        "spec.interfaces",
        "interface MACs must be unique",
    ),
    Rejected(
        "cel-mac-multicast",
        put("interfaces.0.mac", "01:00:5e:00:00:fb"),
        "spec.interfaces[0].mac",
        "mac must be a unicast address",
    ),
    Rejected(
        "cel-boundIp-not-an-ip",
        put("interfaces.0.boundIp", "not-an-ip"),
        "spec.interfaces[0].boundIp",
        "boundIp must be an IPv4 or IPv6 address",
    ),
    Rejected(
        "cel-boundIp-out-of-range",
        put("interfaces.0.boundIp", "10.0.0.256"),
        "spec.interfaces[0].boundIp",
        "boundIp must be an IPv4 or IPv6 address",
    ),
    Rejected(
        "cel-16-virtio-disks",
        put("disks", _disks(16, "virtio")),
        "spec.disks",
        "at most 15 disks on virtio together: the bus has 15 device names",
    ),
    Rejected(
        "cel-4-ide-disks",
        put("disks", _disks(4, "ide")),
        "spec.disks",
        "at most 3 disks on ide together: the bus has 3 device names",
    ),
    Rejected(
        "cel-scsi-and-sata-share-sd-names",
        put("disks", _disks(8, "scsi") + _disks(8, "sata", first=8)),
        "spec.disks",
        "at most 15 disks on scsi and sata together: the bus has 15 device names",
    ),
    *(
        Rejected(
            f"cel-{path}-{kind}",
            chain(put("disks.0.image", {"uuid": TEMPLATE, "repository": POOL}), put(path, text)),
            printed,
            PRINTABLE_RULE,
        )
        for path, printed in TEXT_FIELDS
        for kind, text in HOSTILE_TEXT.items()
    ),
    Rejected(
        "cel-cdrom-image-newline",
        put("cdrom", {"image": "a\nb.iso", "repository": POOL}),
        "spec.cdrom.image",
        PRINTABLE_RULE,
    ),
    Rejected(
        "cel-template-snapshot-del",
        put("template", {"uuid": TEMPLATE, "snapshot": "s\x7f"}),
        "spec.template.snapshot",
        PRINTABLE_RULE,
    ),
)

LIST_MAP_KEYS = _cases(
    Rejected(
        "duplicate-disk-name",
        append("disks", volume_disk("root")),
        "spec.disks[1]",
        'Duplicate value: {"name":"root"}',
    ),
    Rejected(
        "duplicate-interface-name",
        append("interfaces", {"name": "eth0", "network": "internal", "switch": OTHER}),
        "spec.interfaces[1]",
        'Duplicate value: {"name":"eth0"}',
    ),
)

REQUIRED = _cases(
    Rejected("required-cluster", drop("cluster"), "spec.cluster", "Required value"),
    Rejected("required-tenant", drop("tenant"), "spec.tenant", "Required value"),
    Rejected("required-disk-name", drop("disks.0.name"), "spec.disks[0].name", "Required value"),
    Rejected(
        "required-interface-network", drop("interfaces.0.network"), "spec.interfaces[0].network", "Required value"
    ),
    Rejected("required-template-uuid", put("template", {"linkedClone": True}), "spec.template.uuid", "Required value"),
    Rejected(
        "required-cdrom-repository", put("cdrom", {"image": "centos.iso"}), "spec.cdrom.repository", "Required value"
    ),
)

INVALID = WRONG_TYPES + OUT_OF_RANGE + ENUMS + PATTERNS + CEL_RULES + INPUT_LIMITS + LIST_MAP_KEYS + REQUIRED


@pytest.mark.parametrize("case", INVALID)
def test_invalid_manifest_is_rejected(plane: ControlPlane, case: Rejected) -> None:
    result = dry_run_create(plane, manifest(case.mutation), *case.flags)
    assert_rejected(result, case.path, case.message)


def test_manifest_without_spec_is_rejected(plane: ControlPlane) -> None:
    document = manifest()
    del document["spec"]
    assert_rejected(dry_run_create(plane, document), "spec", "Required value")


def test_base_manifest_is_valid(plane: ControlPlane) -> None:
    """The corpus means something only if its base passes."""
    assert_accepted(dry_run_create(plane, manifest(), "-o", "json"))


# --- valid variants and defaults -------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    id: str
    mutation: Mutation


# Also run through the operator and the simulator: tests/integration/test_odd_objects.py.
ACCEPTED: Final[tuple[Accepted, ...]] = (
    Accepted("template-without-disks", chain(put("disks", []), put("template", {"uuid": TEMPLATE}))),
    Accepted("adopt-without-disks", chain(drop("disks"), put("adopt", {"uuid": ADOPTED}))),
    Accepted("existing-volume-disk", put("disks", [volume_disk("root")])),
    Accepted(
        "internal-network-with-switch",
        put("interfaces.0", {"name": "eth0", "network": "internal", "switch": OTHER}),
    ),
    *(
        Accepted(f"powerState-{state}", put("powerState", state))
        for state in ("Running", "Stopped", "Suspended", "Hibernated")
    ),
    Accepted("ide-device-hda", put("disks.0", {**BASE_SPEC["disks"][0], "bus": "ide", "device": "hda"})),
    Accepted("ide-device-ida", put("disks.0", {**BASE_SPEC["disks"][0], "bus": "ide", "device": "ida"})),
    Accepted("sata-device-sdb", put("disks.0", {**BASE_SPEC["disks"][0], "bus": "sata", "device": "sdb"})),
    Accepted(
        "writeback-on-virtio", put("disks.0", {**BASE_SPEC["disks"][0], "bus": "virtio", "cacheMode": "writeback"})
    ),
    Accepted("image-import", put("disks.0.image", {"uuid": TEMPLATE, "repository": POOL})),
    Accepted(
        "componentCache-with-linkedClone",
        put("template", {"uuid": TEMPLATE, "linkedClone": True, "componentCache": True}),
    ),
    Accepted("cpu-current-and-max", put("cpu", {"sockets": 2, "cores": 4, "current": 2, "max": 8})),
    Accepted("memory-at-the-limit", put("memory", "256Gi")),
    Accepted("memory-fractional", put("memory", "1.5Gi")),
    Accepted("bootOrder-disk-and-nic", put("bootOrder", ["root", "eth0"])),
    Accepted("groupRef-alone", put("groupRef", {"name": "web"})),
    Accepted("template-and-adopt", chain(put("template", {"uuid": TEMPLATE}), put("adopt", {"uuid": ADOPTED}))),
    Accepted(
        "distinct-devices",
        chain(put("disks.0.device", "sda"), append("disks", volume_disk("data", bus="scsi", device="sdb"))),
    ),
    Accepted("sixteen-vlans", put("interfaces.0.vlanIds", list(range(1, 17)))),
    # The edges of the limits above, and text that is merely unusual.
    Accepted("vlan-ids-at-the-edges", put("interfaces.0.vlanIds", [0, 4094])),
    Accepted("memory-1Mi", put("memory", "1Mi")),
    Accepted("memory-in-Ki", put("memory", "1048576Ki")),
    Accepted("vcpus-1024", put("cpu", {"sockets": 32, "cores": 32, "current": 1024})),
    Accepted("fifteen-virtio-disks-and-one-scsi", put("disks", _disks(15, "virtio") + _disks(1, "scsi", first=15))),
    Accepted("three-ide-disks", put("disks", _disks(3, "ide"))),
    Accepted("unicast-mac", put("interfaces.0.mac", "02:00:00:00:00:01")),
    Accepted(
        "distinct-macs",
        chain(
            put("interfaces.0.mac", MAC),
            append("interfaces", {"name": "eth1", "network": "internal", "switch": OTHER, "mac": "52:54:00:ab:cd:f0"}),
        ),
    ),
    Accepted("boundIp-v4", put("interfaces.0.boundIp", "192.123.123.10")),
    Accepted(
        "pci-and-mdev-with-ha-off",
        chain(put("haMode", "off"), put("pci", [PCI]), put("mdev", [{**MDEV, "model": "vfio-ap", "display": True}])),
    ),
    Accepted(
        "resources",
        chain(
            put("cpu.reserve", True),
            put("memoryReserve", True),
            put("memoryBalloon", "0"),
            put("restartMethod", "Reset"),
        ),
    ),
    Accepted("console-graphics", put("console", {"compression": "lz4", "streaming": "all"})),
    Accepted("boundIp-v6", put("interfaces.0.boundIp", "fd00::10")),
    Accepted("name-unicode-and-spaces", chain(put("name", "web 1 端口组 ü"), put("os", "Windows Server 2019 x64"))),
    Accepted("network-unicode", put("interfaces.0.network", "voi端口组")),
)
VALID = [pytest.param(case, id=case.id) for case in ACCEPTED]


@pytest.mark.parametrize("case", VALID)
def test_valid_variant_is_accepted(plane: ControlPlane, case: Accepted) -> None:
    assert_accepted(dry_run_create(plane, manifest(case.mutation), "-o", "json"))


def test_apiserver_applies_the_defaults(plane: ControlPlane) -> None:
    sent = manifest(
        drop("cpu"),
        drop("disks.0.bus"),
        put("interfaces.0.qos", {"inbound": {}}),
        put("template", {"uuid": TEMPLATE}),
    )
    spec = assert_accepted(dry_run_create(plane, sent, "-o", "json"))["spec"]
    assert spec["powerState"] == "Running"
    assert spec["disks"][0]["bus"] == "virtio"
    assert spec["deleteMode"] == "Permanent"
    assert spec["shutdownTimeoutSeconds"] == 120
    assert spec["updatePolicy"] == "OnPowerCycle"
    assert spec["haMode"] == "on"
    assert spec["cpu"] == {"sockets": 1, "cores": 1}
    assert spec["os"] == "CentOS x64"
    assert spec["type"] == "GUS"
    assert spec["deleteVolumes"] is True
    assert spec["recreateOnLoss"] is True
    assert spec["interfaces"][0]["model"] == "virtio"
    assert spec["interfaces"][0]["qos"] == {"inbound": {"average": 0, "peak": 0, "burst": 0}}
    assert spec["template"] == {"uuid": TEMPLATE, "linkedClone": False, "componentCache": False}
    assert "deletionPolicy" not in spec  # unset on purpose: the namespace's annotation or the operator decides


def test_apiserver_defaults_match_the_models(plane: ControlPlane) -> None:
    """The operator reads specs through VirtualMachineSpec; its defaults must be the apiserver's."""
    sent = manifest(drop("cpu"), drop("disks.0.bus"), put("interfaces.0.qos", {"outbound": {"peak": 5}}))
    spec = assert_accepted(dry_run_create(plane, sent, "-o", "json"))["spec"]
    from_models = VirtualMachineSpec.model_validate(sent["spec"]).model_dump(by_alias=True, exclude_none=True)
    assert spec == from_models


# --- immutability (stored objects, dry-run updates) ------------------------------------------------

IMMUTABLE = _cases(
    Rejected(
        "cluster-changed",
        put("cluster", OTHER),
        "spec.cluster",
        "cluster is immutable; use a VmMigration to move the VM",
    ),
    Rejected("cluster-removed", drop("cluster"), "spec.cluster", "Required value"),
    Rejected("tenant-changed", put("tenant", OTHER), "spec.tenant", "is immutable"),
    Rejected("tenant-removed", drop("tenant"), "spec.tenant", "Required value"),
    Rejected("template-uuid-changed", put("template.uuid", OTHER), "spec.template", "is immutable"),
    Rejected("template-linkedClone-changed", put("template.linkedClone", True), "spec.template", "is immutable"),
    Rejected("template-removed", drop("template"), "spec.template", "template cannot be removed"),
)
IMMUTABLE_ADOPT = _cases(
    Rejected("adopt-uuid-changed", put("adopt.uuid", OTHER), "spec.adopt", "is immutable"),
    Rejected("adopt-observeOnly-changed", put("adopt.observeOnly", True), "spec.adopt", "is immutable"),
    Rejected("adopt-removed", drop("adopt"), "spec.adopt", "adopt cannot be removed"),
)


@pytest.mark.parametrize("case", IMMUTABLE)
def test_immutable_field_update_is_rejected(stored: ControlPlane, case: Rejected) -> None:
    assert_rejected(dry_run_update(stored, stored_template(case.mutation)), case.path, case.message)


@pytest.mark.parametrize("case", IMMUTABLE_ADOPT)
def test_adopt_update_is_rejected(stored: ControlPlane, case: Rejected) -> None:
    assert_rejected(dry_run_update(stored, stored_adopted(case.mutation)), case.path, case.message)


def test_immutable_rules_let_ordinary_updates_through(stored: ControlPlane) -> None:
    """Transition rules must not block updates that keep cluster, tenant, template and adopt."""
    resized = stored_template(put("memory", "4Gi"), put("powerState", "Stopped"), append("disks", volume_disk("data")))
    assert assert_accepted(dry_run_update(stored, resized))["spec"]["memory"] == "4Gi"
    stopped = stored_adopted(put("powerState", "Stopped"), put("adopt", {"uuid": ADOPTED, "observeOnly": False}))
    assert assert_accepted(dry_run_update(stored, stopped))["spec"]["powerState"] == "Stopped"

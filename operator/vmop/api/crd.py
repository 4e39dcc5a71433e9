"""CRDs generated from the models: structural OpenAPI v3 schemas with CEL rules, printer columns,
short names and categories. `vmop crds` writes them to crds/; a test fails when they drift."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from vmop.api import GROUP, VERSION
from vmop.api.computeprovider import ComputeProviderSpec, ComputeProviderStatus
from vmop.api.conditions import READY, SYNCED
from vmop.api.virtualmachine import VirtualMachineSpec, VirtualMachineStatus
from vmop.api.vmgroup import VmGroupSpec, VmGroupStatus
from vmop.api.vmmigration import VmMigrationSpec, VmMigrationStatus
from vmop.api.vmpool import PROGRESSING, VmPoolSpec, VmPoolStatus

CATEGORY = "vmop"
# kopf's own peering CRDs (hot standby), kept in crds/ as kopf defines them, not generated here.
KOPF_PEERING_CRDS = ("clusterkopfpeerings.yaml", "kopfpeerings.yaml")
# kopf kept its bookkeeping (handler progress, last handled spec) here before vmop's engine, which
# has kopf write nothing: objects made then still carry it, and must stay valid.
KOPF_STATUS_FIELD = "kopf"
VALIDATIONS = "x-kubernetes-validations"
# What `kubectl explain` says of the fields every object has. metadata may carry nothing but its
# type (the apiserver refuses more); explain describes it from ObjectMeta.
API_VERSION_DESCRIPTION = "the versioned schema of this representation of an object (vmop.io/v1alpha1)"
KIND_DESCRIPTION = "the REST resource this object represents"


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_names: list[str]
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    columns: list[dict[str, Any]] = field(default_factory=list)
    scale: dict[str, str] | None = None  # the scale subresource's paths (kubectl scale, an HPA)
    scope: str = "Namespaced"  # or Cluster

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"


def _column(name: str, path: str, type_: str = "string", priority: int = 0, description: str = "") -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        column["priority"] = priority
    if description:
        column["description"] = description
    return column


# As Crossplane shows it: False when vmop cannot make the platform match (the condition says why).
SYNCED_COLUMN = _column(
    "Synced",
    f'.status.conditions[?(@.type=="{SYNCED}")].status',
    description="whether the last pass could make the platform match the spec",
)

VIRTUAL_MACHINE = Kind(
    kind="VirtualMachine",
    plural="virtualmachines",
    short_names=["vm", "vms"],
    spec=VirtualMachineSpec,
    status=VirtualMachineStatus,
    description="A virtual machine on the HCI platform, kept in the declared shape and power state by vmop.",
    columns=[
        _column("Phase", ".status.phase"),
        _column("State", ".status.state"),
        _column("Host", ".status.host", priority=1),
        _column("IP", ".status.ips[0]"),
        _column("CPUs", ".status.cpus", "integer"),
        _column("Memory", ".status.memory"),
        _column("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        SYNCED_COLUMN,
        _column("UUID", ".status.uuid", priority=1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ],
)

VM_GROUP = Kind(
    kind="VmGroup",
    plural="vmgroups",
    short_names=["vmg"],
    spec=VmGroupSpec,
    status=VmGroupStatus,
    description="A VM group on the HCI platform (nested up to five deep), kept by vmop.",
    columns=[
        _column("Platform Name", ".status.name"),
        _column("Phase", ".status.phase"),
        _column("Depth", ".status.depth", "integer"),
        _column("VMs", ".status.vmCount", "integer"),
        _column("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        SYNCED_COLUMN,
        _column("UUID", ".status.uuid", priority=1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ],
)

VM_MIGRATION = Kind(
    kind="VmMigration",
    plural="vmmigrations",
    short_names=["vmmig"],
    spec=VmMigrationSpec,
    status=VmMigrationStatus,
    description="One migration of a VirtualMachine's VM to another host or cluster; history once finished.",
    columns=[
        _column("VM", ".spec.vmRef.name"),
        _column("Phase", ".status.phase"),
        _column("Progress", ".status.progress", "integer"),
        _column("Source Host", ".status.source.host"),
        _column("Destination", ".status.destination.host"),
        SYNCED_COLUMN,
        _column("Destination Cluster", ".status.destination.cluster", priority=1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ],
)

VM_POOL = Kind(
    kind="VmPool",
    plural="vmpools",
    short_names=["vmp"],
    spec=VmPoolSpec,
    status=VmPoolStatus,
    description="N alike VirtualMachines made from one template, scaled like a Deployment (kubectl scale, HPA).",
    columns=[
        _column("Desired", ".spec.replicas", "integer", description="replicas asked for"),
        _column("Current", ".status.replicas", "integer", description="VirtualMachines of the pool"),
        _column("Ready", ".status.readyReplicas", "integer", description="of them, Ready"),
        _column("Updated", ".status.updatedReplicas", "integer", description="of them, on the current template"),
        _column("Progressing", f'.status.conditions[?(@.type=="{PROGRESSING}")].status', priority=1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ],
    scale={
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    },
)

COMPUTE_PROVIDER = Kind(
    kind="ComputeProvider",
    plural="computeproviders",
    short_names=["cprov"],
    spec=ComputeProviderSpec,
    status=ComputeProviderStatus,
    description="One HCI platform's compute API, its credentials and the namespaces that may use it "
    "(cluster-scoped); objects name it in spec.providerRef.",
    columns=[
        _column("URL", ".spec.url"),
        _column("Default", ".spec.default", "boolean"),
        _column("Reachable", ".status.reachable", "boolean"),
        _column("Authenticated", ".status.authenticated", "boolean"),
        _column("Ready", f'.status.conditions[?(@.type=="{READY}")].status'),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ],
    scope="Cluster",
)

KINDS = [VIRTUAL_MACHINE, VM_GROUP, VM_MIGRATION, VM_POOL, COMPUTE_PROVIDER]


def _merge(target: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """A referenced schema with the referring field's keys on top. CEL rules add up: a field's
    rules (say, immutability) must not replace those of its model (say, componentCache needs
    linkedClone)."""
    merged = {**target, **overlay}
    rules = [*target.get(VALIDATIONS, []), *overlay.get(VALIDATIONS, [])]
    if rules:
        merged[VALIDATIONS] = rules
    return merged


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Turn a pydantic JSON schema into a Kubernetes structural schema.

    Inlines $refs, folds ``X | None`` into X (optional fields are simply omitted), drops
    what the apiserver rejects (titles, additionalProperties: false, null defaults).
    """
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        target = defs[schema["$ref"].split("/")[-1]]
        return structural(_merge(target, {k: v for k, v in schema.items() if k != "$ref"}), defs)
    options = schema.get("anyOf")
    if options is not None:
        concrete = [o for o in options if o.get("type") != "null"]
        if len(concrete) == 1:
            return structural(_merge(concrete[0], {k: v for k, v in schema.items() if k != "anyOf"}), defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "$defs", "examples") or (key == "default" and value is None):
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key == "properties":
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = structural(value, defs)
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return structural(model.model_json_schema(by_alias=True, mode="validation"))


def _status_schema(kind: Kind) -> dict[str, Any]:
    schema = _schema(kind.status)
    schema["properties"][KOPF_STATUS_FIELD] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": "kopf's handler bookkeeping, written by vmop before its engine (no longer written)",
    }
    schema["properties"]["conditions"]["x-kubernetes-list-type"] = "map"
    schema["properties"]["conditions"]["x-kubernetes-list-map-keys"] = ["type"]
    return schema


def custom_resource_definition(kind: Kind) -> dict[str, Any]:
    spec_schema = _schema(kind.spec)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.name, "labels": {"app.kubernetes.io/part-of": "vmop"}},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": kind.short_names,
                "categories": [CATEGORY],
            },
            "scope": kind.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}} | ({"scale": kind.scale} if kind.scale else {}),
                    "additionalPrinterColumns": kind.columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": kind.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string", "description": API_VERSION_DESCRIPTION},
                                "kind": {"type": "string", "description": KIND_DESCRIPTION},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": _status_schema(kind),
                            },
                        }
                    },
                }
            ],
        },
    }


def render(kind: Kind) -> str:
    header = "# Generated by `vmop crds` from operator/vmop/api; do not edit.\n"
    return header + yaml.safe_dump(custom_resource_definition(kind), sort_keys=False, allow_unicode=True, width=120)


def crd_files() -> dict[str, str]:
    """File name -> content for every kind."""
    return {f"{kind.plural}.yaml": render(kind) for kind in KINDS}


def write_crds(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in crd_files().items():
        path = directory / name
        path.write_text(content)
        written.append(path)
    return written

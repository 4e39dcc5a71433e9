"""A spec the planner cannot turn into a request (a compute model refuses a value the CRD let
through, e.g. an object stored before a rule existed): said in status, never raised."""

from __future__ import annotations

from pydantic import ValidationError

# Request fields -> the spec field they are made from, to name it in the message.
SPEC_FIELD_OF: dict[str, str] = {
    "vmemory": "spec.memory",
    "mem_size": "spec.memory",
    "mem_max": "spec.memory",
    "cpunr": "spec.cpu",
    "max_cpu_nr": "spec.cpu",
    "cpu_current": "spec.cpu.current",
    "cpu_max": "spec.cpu",
    "cpu_sockets": "spec.cpu.sockets",
    "cpu_socket_cores": "spec.cpu.cores",
    "compute_name": "spec.name",
    "os": "spec.os",
}
MAX_INPUT_CHARS = 64


def invalid_spec_message(error: ValidationError) -> str:
    """Which spec field cannot be sent, and the compute model's words about it."""
    parts = []
    for item in error.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in item["loc"])
        if error.title.endswith("Spec"):  # the object's spec itself (VirtualMachineSpec...)
            spec_field: str | None = f"spec.{where}"
        else:
            spec_field = next((SPEC_FIELD_OF[str(p)] for p in reversed(item["loc"]) if str(p) in SPEC_FIELD_OF), None)
        shown = repr(item.get("input"))[:MAX_INPUT_CHARS]
        parts.append(f"{spec_field or 'spec'}: {error.title}.{where}: {item['msg']} (got {shown})")
    return "the spec cannot be sent to the platform: " + "; ".join(parts)

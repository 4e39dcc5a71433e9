"""The simulator as an ASGI app: the compute API's routes over :class:`Platform`.

Every answer is an ``Output`` envelope, including refusals (scode) and bad input (scode
INVALID_PARAMETER naming the field); unknown /v1/compute endpoints answer UNSUPPORTED_ENDPOINT.
Non-platform routes live under /sim (faults, timings, call counts, volumes, what no endpoint
shows of a VM) and /healthz.
"""

# No `from __future__ import annotations`: FastAPI reads the request models from the
# annotations of the route functions built in a loop below.

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from vmop.compute import endpoints as ep
from vmop.compute.endpoints import Endpoint
from vmop.compute.models import (
    REVEAL_SECRETS,
    BatchItem,
    BatchOutput,
    ComputeIdentifier,
    Output,
    Progress,
    RequestModel,
)
from vmop.compute.requests import (
    AlterDeviceNameRequest,
    BalloonSetRequest,
    BatchDeleteRequest,
    BatchPowerRequest,
    BatchStartRequest,
    BootOrderSetRequest,
    CdromAttachRequest,
    CloneRequest,
    CloudInitQuery,
    CloudInitSetRequest,
    CpuReserveRequest,
    CrossClusterMigrateRequest,
    DeleteRequest,
    DetailQuery,
    DiskAttachRequest,
    DiskDetachRequest,
    DiskExportProgressQuery,
    DiskExportRequest,
    DiskUpdateRequest,
    FloppyAttachRequest,
    FromTemplateRequest,
    GraphicsPasswordSetRequest,
    GroupCreateRequest,
    GroupInspectQuery,
    GroupMoveRequest,
    GroupRef,
    GroupTreeQuery,
    GroupUpdateRequest,
    InspectQuery,
    InterfaceAttachRequest,
    InterfaceDetachRequest,
    InterfaceMacUpdateRequest,
    InterfaceSetQosRequest,
    IpMacBindRequest,
    ListQuery,
    MdevDeviceRequest,
    MemoryReserveRequest,
    MetaSetRequest,
    MigrateRequest,
    ModifyNetworkRequest,
    PciDeviceRequest,
    PowerRequest,
    ScreenshotListQuery,
    StartRequest,
    StateSummaryQuery,
    SupportConfigQuery,
    UnifiedCreateRequest,
    UsbAttachRequest,
    UsbDetachRequest,
    VcpuSetRequest,
    VgpuSetRequest,
    VideoAttachRequest,
    VideoDetachRequest,
    VideoEditRequest,
    VmemorySetRequest,
)
from vmop.compute.scodes import Scode
from vmop.sim import console, devices, groups, lifecycle, migration, passthrough, power
from vmop.sim.dialect import Speaker
from vmop.sim.errors import SimError
from vmop.sim.faults import Faults, Timings
from vmop.sim.platform import Platform, require
from vmop.sim.state import save_state
from vmop.sim.views import inspect_info
from vmop.sim.world import Vm, Volume

API_PREFIX = "/v1/compute/"


@dataclass(frozen=True)
class Route:
    endpoint: Endpoint
    model: type[RequestModel]
    handle: Callable[[Platform, Any], Any]


def _ident(req: InspectQuery | DetailQuery | DiskExportProgressQuery) -> ComputeIdentifier:
    """The VM a query names (cloud_init/get and list/screenshot are DetailQuery's)."""
    return ComputeIdentifier(cluster_uuid=req.cluster_uuid, tenant=req.tenant, compute_uuid=req.compute_uuid)


def _detail(p: Platform, req: DetailQuery) -> dict[str, Any]:
    vm = p.vm(_ident(req))
    require(vm, "detail", states=("running",), noaction=False, agent=True)
    stats = {"UUID": vm.uuid, "GaConnected": True, "CpuStat": {"Cores": vm.cpu_socket_cores, "Sockets": vm.cpu_sockets}}
    return {"VmDetails": {vm.uuid: {"VmName": vm.name, "VmDetails": stats}}, "Ctime": int(p.world.now())}


def _power(name: str) -> Callable[[Platform, PowerRequest], dict[str, Any]]:
    def handle(p: Platform, req: PowerRequest) -> dict[str, Any]:
        power.OPERATIONS[name](p, p.vm(req))
        return {}

    return handle


def _batch(
    name: str, operation: Callable[[Platform, Any], None]
) -> Callable[[Platform, BatchPowerRequest], list[Output[Any]]]:
    """Each VM of a batch succeeds or fails on its own; one VM's refusal never hides another's.
    A scode forced on the single endpoint (``name``) refuses each item alike, as the platform
    refuses a start the same way whether it came alone or in a batch."""

    def handle(p: Platform, req: BatchPowerRequest) -> list[Output[Any]]:
        results: list[Output[Any]] = []
        for ident in req.vms:
            item = BatchItem(
                cluster_uuid=ident.cluster_uuid,
                tenant=ident.tenant,
                compute_uuid=ident.compute_uuid,
                compute_name=ident.compute_name,
                cluster_name=p.world.clusters.get(ident.cluster_uuid, ""),
            )
            try:
                forced = p.dice.forced_scode(name, wildcard=False)
                if forced is not None:
                    raise SimError(forced, f"injected fault on {name}")
                operation(p, p.vm(ident))
                results.append(lifecycle.ok_output(item))
            except SimError as error:
                results.append(lifecycle.failed_output(error, item))
        return results

    return handle


def _batch_delete(p: Platform, req: BatchDeleteRequest) -> list[Output[Any]]:
    one = DeleteRequest(
        cluster_uuid="-", compute_uuid="-", real_delete=req.real_delete, is_delete_volumes=req.is_delete_volumes
    )
    return _batch("delete", lambda p, vm: lifecycle.delete(p, vm, one))(p, req)


def _empty(fn: Callable[[Platform, Any], None]) -> Callable[[Platform, Any], dict[str, Any]]:
    def handle(p: Platform, req: Any) -> dict[str, Any]:
        fn(p, req)
        return {}

    return handle


def _on_vm(fn: Callable[..., Any], *fields: str) -> Callable[[Platform, Any], Any]:
    """A handler for a per-VM endpoint: find the VM, then call fn(p, vm, req-or-fields)."""

    def handle(p: Platform, req: Any) -> Any:
        vm = p.vm(req)
        args = [getattr(req, f) for f in fields] if fields else [req]
        result = fn(p, vm, *args)
        return {} if result is None else result

    return handle


def _vm_only(fn: Callable[[Platform, Vm], None]) -> Callable[[Platform, ComputeIdentifier], dict[str, Any]]:
    def handle(p: Platform, req: ComputeIdentifier) -> dict[str, Any]:
        fn(p, p.vm(req))
        return {}

    return handle


ROUTES: list[Route] = [
    Route(ep.LIST, ListQuery, lifecycle.list_vms),
    Route(
        ep.INSPECT, InspectQuery, lambda p, q: inspect_info(p.world, p.vm(_ident(q), include_trash=q.include_trash_vm))
    ),
    Route(ep.DETAIL, DetailQuery, _detail),
    Route(ep.STATE_SUMMARY, StateSummaryQuery, lifecycle.state_summary),
    Route(ep.LOG, ComputeIdentifier, lambda p, req: lifecycle.vm_log(p, p.vm(req))),
    Route(ep.UNIFIED_CREATE, UnifiedCreateRequest, lifecycle.unified_create),
    Route(ep.UNIFIED_IMPORT, UnifiedCreateRequest, lifecycle.unified_import),
    Route(
        ep.IMPORT_PROGRESS, ComputeIdentifier, lambda p, req: Progress(progress=lifecycle.import_progress(p, p.vm(req)))
    ),
    Route(ep.FROM_TEMPLATE, FromTemplateRequest, lifecycle.create_from_template),
    Route(
        ep.DELETE,
        DeleteRequest,
        lambda p, req: _empty(lambda p, r: lifecycle.delete(p, p.vm(r, include_trash=True), r))(p, req),
    ),
    Route(ep.BATCH_DELETE, BatchDeleteRequest, _batch_delete),
    Route(ep.CLONE, CloneRequest, _on_vm(lifecycle.clone)),
    Route(
        ep.CLONE_PROGRESS, ComputeIdentifier, lambda p, req: Progress(progress=lifecycle.clone_progress(p, p.vm(req)))
    ),
    Route(ep.START, StartRequest, _on_vm(lambda p, vm, req: power.start(p, vm, cloud_init=req.cloud_init))),
    *[
        Route(getattr(ep, name.upper()), PowerRequest, _power(name))
        for name in ("shutdown", "shutoff", "reboot", "reboot_ga", "reset", "suspend", "resume", "save", "restore")
    ],
    Route(
        ep.BATCH_START,
        BatchStartRequest,
        lambda p, req: _batch("start", lambda p, vm: power.start(p, vm, cloud_init=req.cloud_init))(p, req),
    ),
    *[
        Route(getattr(ep, f"BATCH_{name.upper()}"), BatchPowerRequest, _batch(name, power.OPERATIONS[name]))
        for name in ("shutdown", "shutoff", "reboot", "reboot_ga", "reset", "suspend", "resume", "save", "restore")
    ],
    Route(ep.VCPU_SET, VcpuSetRequest, _on_vm(devices.set_vcpu)),
    Route(ep.VMEMORY_SET, VmemorySetRequest, _on_vm(devices.set_memory)),
    Route(ep.META_SET, MetaSetRequest, _on_vm(devices.set_meta)),
    Route(ep.BOOTORDER_SET, BootOrderSetRequest, _on_vm(devices.set_boot_order)),
    Route(ep.DISK_ATTACH, DiskAttachRequest, _on_vm(devices.attach_disk)),
    Route(ep.DISK_UPDATE, DiskUpdateRequest, _on_vm(devices.update_disk)),
    Route(ep.DISK_DETACH, DiskDetachRequest, _on_vm(devices.detach_disk, "target_device")),
    Route(ep.DISK_EXPORT, DiskExportRequest, _on_vm(lifecycle.export_disk)),
    Route(
        ep.DISK_EXPORT_PROGRESS,
        DiskExportProgressQuery,
        lambda p, q: Progress(progress=lifecycle.export_progress(p, p.vm(_ident(q)))),
    ),
    Route(
        ep.INTERFACE_ATTACH,
        InterfaceAttachRequest,
        lambda p, req: {"interface_return": devices.attach_interface(p, p.vm(req), req)},
    ),
    Route(ep.INTERFACE_DETACH, InterfaceDetachRequest, _on_vm(devices.detach_interface, "mac_address")),
    Route(ep.INTERFACE_SETQOS, InterfaceSetQosRequest, _on_vm(devices.set_interface_qos)),
    Route(ep.CDROM_ATTACH, CdromAttachRequest, _on_vm(devices.attach_cdrom)),
    Route(ep.CDROM_DETACH, ComputeIdentifier, _vm_only(devices.detach_cdrom)),
    Route(ep.FLOPPY_ATTACH, FloppyAttachRequest, _on_vm(devices.attach_floppy)),
    Route(ep.FLOPPY_DETACH, ComputeIdentifier, _vm_only(devices.detach_floppy)),
    Route(ep.MODIFY_NETWORK, ModifyNetworkRequest, _on_vm(devices.modify_network)),
    Route(ep.INTERFACE_MAC_UPDATE, InterfaceMacUpdateRequest, _on_vm(devices.update_interface_mac)),
    Route(ep.IP_MAC_BIND_UPDATE, IpMacBindRequest, _on_vm(devices.update_ip_mac_bind)),
    Route(ep.PCI_ATTACH, PciDeviceRequest, _on_vm(passthrough.attach_pci)),
    Route(ep.PCI_DETACH, PciDeviceRequest, _on_vm(passthrough.detach_pci)),
    Route(ep.MDEV_ATTACH, MdevDeviceRequest, _on_vm(passthrough.attach_mdev)),
    Route(ep.MDEV_DETACH, MdevDeviceRequest, _on_vm(passthrough.detach_mdev)),
    Route(ep.USB_ATTACH, UsbAttachRequest, _on_vm(passthrough.attach_usb)),
    Route(ep.USB_DETACH, UsbDetachRequest, _on_vm(passthrough.detach_usb, "target_bus", "target_port")),
    Route(ep.VIDEO_ATTACH, VideoAttachRequest, _on_vm(console.attach_video)),
    Route(ep.VIDEO_DETACH, VideoDetachRequest, _on_vm(console.detach_video, "heads")),
    Route(ep.VIDEO_EDIT, VideoEditRequest, _on_vm(console.edit_video)),
    Route(ep.BALLOON_SET, BalloonSetRequest, _on_vm(devices.set_balloon)),
    Route(ep.VGPU_SET, VgpuSetRequest, _on_vm(console.set_graphics)),
    Route(ep.GRAPHICS_PASSWORD_SET, GraphicsPasswordSetRequest, _on_vm(console.set_graphics_password)),
    Route(ep.CPU_RESERVE, CpuReserveRequest, _on_vm(devices.set_cpu_reserve)),
    Route(ep.MEMORY_RESERVE, MemoryReserveRequest, _on_vm(devices.set_memory_reserve)),
    Route(ep.CLOUD_INIT_GET, CloudInitQuery, lambda p, q: console.cloud_init(p, p.vm(_ident(q)))),
    Route(ep.CLOUD_INIT_SET, CloudInitSetRequest, _on_vm(console.set_cloud_init)),
    Route(ep.ALTER_DEVICE_NAME, AlterDeviceNameRequest, _on_vm(console.alter_device_name)),
    Route(ep.SCREENSHOT, ComputeIdentifier, lambda p, req: console.screenshot(p, p.vm(req))),
    Route(ep.LIST_SCREENSHOT, ScreenshotListQuery, lambda p, q: console.screenshots(p, p.vm(_ident(q)))),
    Route(ep.SUPPORT_CONFIG, SupportConfigQuery, console.support_config),
    Route(
        ep.MIGRATE, MigrateRequest, lambda p, req: {"compute_name": migration.migrate(p, p.vm(req), req.destination)}
    ),
    Route(ep.MIGRATE_ABORT, ComputeIdentifier, _vm_only(migration.migrate_abort)),
    Route(ep.CROSS_CLUSTER_MIGRATE, CrossClusterMigrateRequest, _on_vm(migration.cross_cluster_migrate)),
    Route(ep.CROSS_CLUSTER_CANCEL, ComputeIdentifier, _vm_only(migration.cross_cluster_cancel)),
    Route(
        ep.CROSS_CLUSTER_PROGRESS,
        ComputeIdentifier,
        lambda p, req: Progress(progress=migration.cross_cluster_progress(p, p.vm(req))),
    ),
    Route(ep.GROUP_CREATE, GroupCreateRequest, groups.create),
    Route(ep.GROUP_DELETE, GroupRef, _empty(groups.delete)),
    Route(ep.GROUP_UPDATE, GroupUpdateRequest, _empty(groups.update)),
    Route(ep.GROUP_MOVE, GroupMoveRequest, _empty(groups.move)),
    Route(ep.GROUP_INSPECT, GroupInspectQuery, lambda p, q: groups.inspect(p, q.cluster_uuid, q.tenant, q.group_uuid)),
    Route(ep.GROUP_TREE, GroupTreeQuery, groups.tree),
]


def envelope(scode: int, message: str, message_cn: str, desc: str = "", data: Any = None) -> dict[str, Any]:
    return Output[Any](scode=scode, message=message, message_cn=message_cn, desc=desc, data=data).model_dump(
        mode="json", by_alias=True, context=REVEAL_SECRETS
    )


def _echoed_headers(request: Request) -> str:
    """The request's headers as a gateway quoting them in its error would: verbatim."""
    return "; request headers: " + ", ".join(f"{key}: {value}" for key, value in request.headers.items())


def _error_envelope(error: SimError) -> dict[str, Any]:
    return envelope(error.scode, error.message, error.message_cn, error.desc)


def _success(data: Any) -> dict[str, Any]:
    if isinstance(data, list):  # a batch: per-item Outputs
        fail = sum(1 for item in data if item.scode != 0)
        data = BatchOutput[Any](success=len(data) - fail, fail=fail, results=data)
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json", by_alias=True, context=REVEAL_SECRETS)  # the platform's answer
    return envelope(0, "success", "成功", data=data)


def _validation_desc(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(x) for x in err["loc"] if x not in ("body", "query"))
        parts.append(f"{loc or 'body'}: {err['msg']}")
    return "; ".join(parts)


class SimState:
    """What the app keeps besides the platform: call counts and the token it requires."""

    def __init__(self, platform: Platform, token: str | None) -> None:
        self.platform = platform
        self.token = token
        self.calls: Counter[str] = Counter()
        self.started = time.time()
        self.speaker = Speaker(platform.dialect, platform.faults.seed)

    async def spoken(self, response: Response) -> Response:
        """The answer in the platform's dialect (sim/dialect.py); untouched in the default one."""
        if not self.speaker.rewrites or not response.headers.get("content-type", "").startswith("application/json"):
            return response
        if isinstance(response, JSONResponse):
            body = bytes(response.body)
        else:  # what the route answered, streamed through the middleware
            body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        payload, status = self.speaker.answer(json.loads(body))
        return JSONResponse(payload, status_code=status if response.status_code == 200 else response.status_code)


STATE_SAVE_SECONDS = 1.0  # --state-file: at most one save a second while calls change the world


def create_app(platform: Platform, *, token: str | None = None, state_file: Path | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if state_file is not None:
            save_state(platform.world, state_file)

    app = FastAPI(title="vmop compute API simulator", version="1", description=__doc__, lifespan=lifespan)
    state = SimState(platform, token)
    app.state.sim = state
    saved_at = [time.monotonic()]

    @app.middleware("http")
    async def platform_behaviour(request: Request, call_next: Callable[[Request], Any]) -> Response:
        path = request.url.path
        if not path.startswith(API_PREFIX):
            response: Response = await call_next(request)
            return response
        name = path.removeprefix(API_PREFIX)
        echo = _echoed_headers(request) if state.platform.faults.echo_headers else ""
        if state.token is not None and request.headers.get("authorization") != f"Bearer {state.token}":
            refusal = SimError(Scode.UNAUTHORIZED, "a valid bearer token is required" + echo)
            return JSONResponse(_error_envelope(refusal), status_code=401)
        state.calls[name] += 1
        dice = state.platform.dice
        if state.platform.faults.latency_ms:
            await asyncio.sleep(state.platform.faults.latency_ms / 1000)
        if dice.timeout(name):
            await asyncio.sleep(state.platform.faults.hang_seconds)
        if dice.http_error(name):
            return Response("Service Unavailable", status_code=503, media_type="text/plain")
        forced = dice.forced_scode(name)
        if forced is not None:
            if state.platform.faults.echo_body:
                echo += f"; request: {request.url.query} {(await request.body()).decode(errors='replace')}"
            return await state.spoken(
                JSONResponse(_error_envelope(SimError(forced, f"injected fault on {name}{echo}")))
            )
        late = dice.late_execution(name)
        if late:
            # The body is read now: once the caller has given up, the server has nothing left to read.
            await request.body()
            await asyncio.sleep(late)
        state.platform.world.advance()
        response = await state.spoken(await call_next(request))
        if state_file is not None and request.method == "POST" and time.monotonic() - saved_at[0] >= STATE_SAVE_SECONDS:
            save_state(state.platform.world, state_file)
            saved_at[0] = time.monotonic()
        delay = dice.response_delay(name)
        if delay:
            await asyncio.sleep(delay)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_input(_: Request, exc: RequestValidationError) -> JSONResponse:
        desc = _validation_desc(list(exc.errors()))
        return JSONResponse(_error_envelope(SimError(Scode.INVALID_PARAMETER, desc)))

    @app.exception_handler(HTTPException)
    async def http_refusal(request: Request, exc: HTTPException) -> Response:
        """Routing refusals (405 for a method an endpoint does not take) are envelopes too."""
        if not request.url.path.startswith(API_PREFIX):
            return await http_exception_handler(request, exc)
        error = SimError(Scode.UNSUPPORTED_ENDPOINT, f"{request.method} {request.url.path}: {exc.detail}")
        return JSONResponse(_error_envelope(error), status_code=exc.status_code, headers=exc.headers)

    for route in ROUTES:
        _register(app, state, route)

    @app.api_route(API_PREFIX + "{rest:path}", methods=["GET", "POST", "PUT", "DELETE"], include_in_schema=False)
    async def unsupported(rest: str) -> JSONResponse:
        error = SimError(Scode.UNSUPPORTED_ENDPOINT, f"/v1/compute/{rest} is not modelled by vmop sim")
        return JSONResponse(_error_envelope(error), status_code=404)

    _register_control(app, state)
    return app


def _dispatch(state: SimState, route: Route, request_model: RequestModel) -> JSONResponse:
    try:
        return JSONResponse(_success(route.handle(state.platform, request_model)))
    except SimError as error:
        return JSONResponse(_error_envelope(error))


def _register(app: FastAPI, state: SimState, route: Route) -> None:
    model = route.model
    path = route.endpoint.path
    if route.endpoint.method == "GET":
        params = [
            {
                "name": name,
                "in": "query",
                "required": field.is_required(),
                "schema": {"type": _json_type(field.annotation)},
            }
            for name, field in model.model_fields.items()
        ]

        async def get_endpoint(request: Request) -> JSONResponse:
            try:
                query = model.model_validate(dict(request.query_params), strict=False)
            except ValidationError as exc:
                return JSONResponse(
                    _error_envelope(SimError(Scode.INVALID_PARAMETER, _validation_desc(list(exc.errors()))))
                )
            return _dispatch(state, route, query)

        app.get(path, openapi_extra={"parameters": params}, name=path)(get_endpoint)
        return

    async def post_endpoint(body: model = Body()) -> JSONResponse:  # type: ignore[valid-type]  # noqa: B008
        return _dispatch(state, route, body)

    app.post(path, name=path)(post_endpoint)


def _json_type(annotation: Any) -> str:
    return {bool: "boolean", int: "integer"}.get(annotation, "string")


def _register_control(app: FastAPI, state: SimState) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/sim/stats")
    async def stats() -> dict[str, Any]:
        return {"calls": dict(state.calls), "total": sum(state.calls.values()), "vms": len(state.platform.world.vms)}

    @app.get("/sim/faults")
    async def get_faults() -> Faults:
        return state.platform.faults

    @app.put("/sim/faults")
    async def put_faults(faults: Faults) -> Faults:
        """Replace every fault setting: keys left out return to their defaults."""
        state.platform.set_faults(faults)
        return faults

    @app.patch("/sim/faults")
    async def patch_faults(changes: dict[str, Any] = Body()) -> Faults:  # noqa: B008
        """Merge into the current settings: only the keys given change."""
        faults = Faults.model_validate({**state.platform.faults.model_dump(), **changes})
        state.platform.set_faults(faults)
        return faults

    @app.get("/sim/timings")
    async def get_timings() -> Timings:
        return state.platform.timings

    @app.put("/sim/timings")
    async def put_timings(timings: Timings) -> Timings:
        state.platform.timings = timings
        return timings

    @app.get("/sim/vms/{uuid}")
    async def unshown(uuid: str) -> dict[str, Any]:
        """What the simulated platform keeps about a VM that no compute endpoint shows (its balloon)."""
        vm = state.platform.world.vms.get(uuid)
        if vm is None:
            raise HTTPException(status_code=404, detail=f"no vm {uuid}")
        return {"uuid": vm.uuid, "balloon": vm.balloon}

    @app.get("/sim/volumes")
    async def volumes() -> list[dict[str, Any]]:
        return [vars(v) for v in state.platform.world.volumes.values()]

    @app.post("/sim/volumes")
    async def add_volume(volume: dict[str, Any] = Body()) -> dict[str, Any]:  # noqa: B008
        """Make a free volume (the compute API creates volumes only with VMs)."""
        created = Volume(**volume)
        state.platform.world.volumes[created.uuid] = created
        return vars(created)

"""Async client of the compute API: one typed method per endpoint vmop needs.

The transport is the one seam: tests plug the simulator in with ``httpx.ASGITransport``.
Every non-zero ``scode`` raises :class:`ComputeError` with the platform's code and messages,
whatever the HTTP status and ``data``; batch endpoints return per-item results. Transport errors,
timeouts, 429 and 5xx without an envelope are retried with capped exponential backoff and
jitter, but a call that may create something is only retried when the request surely never
reached the platform (a retried create could duplicate a VM). Each call waits as long as its
kind needs (settings: query, action, long).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from vmop.compute import endpoints as ep
from vmop.compute.auth import auth_from_credentials
from vmop.compute.endpoints import Endpoint
from vmop.compute.errors import ComputeError, ComputeProtocolError, ComputeUnavailable
from vmop.compute.models import (
    BatchItem,
    BatchOutput,
    CloneResult,
    CloudInitData,
    CloudInitInfo,
    ComputeIdentifier,
    ComputeInfo,
    ComputeInspectInfo,
    ComputeVideo,
    CreateResult,
    DeviceNameAltered,
    Disk,
    ExportStarted,
    GroupTree,
    Interface,
    InterfaceAttached,
    InterfaceBound,
    MdevDevice,
    MigrateStarted,
    NullableList,
    ObjectGroupCache,
    Output,
    PCIDevice,
    Progress,
    RequestModel,
    Screenshot,
    ScreenshotList,
    StateSummary,
    UsbAttached,
    VmList,
    VmLogPage,
    VmNamed,
)
from vmop.compute.redact import Redactor
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
    GraphicsCompression,
    GraphicsPasswordSetRequest,
    GraphicsStreaming,
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
    IpMacPeer,
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
    UsbAttachment,
    UsbAttachRequest,
    UsbDetachRequest,
    VcpuSetRequest,
    VgpuSetRequest,
    VideoAttachRequest,
    VideoDetachRequest,
    VideoEditRequest,
    VmemorySetRequest,
)
from vmop.compute.settings import ComputeSettings
from vmop.transport import AiohttpTransport

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Failures where the request cannot have reached the platform: safe to retry even a create.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class CallRecord:
    """What an observer (metrics) learns about each HTTP attempt."""

    endpoint: str
    scode: int | None  # None when no envelope came back
    seconds: float
    attempt: int
    unreadable: int = 0  # list entries skipped because they could not be read


@dataclass(frozen=True)
class ItemResult(Generic[T]):
    """One item of a batch call: ``data`` on success, ``error`` on failure."""

    data: T | None
    error: ComputeError | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class BatchResults(Generic[T]):
    items: list[ItemResult[T]]

    @property
    def failures(self) -> list[ComputeError]:
        return [item.error for item in self.items if item.error is not None]

    def succeeded(self) -> list[T]:
        return [item.data for item in self.items if item.data is not None and item.error is None]


def _tls_verify(settings: ComputeSettings) -> ssl.SSLContext | bool:
    if not settings.verify_tls:
        log.warning("TLS verification of the compute API is disabled (insecureSkipVerify); use only in labs")
        return False
    if settings.ca_bundle is not None:
        return ssl.create_default_context(cafile=str(settings.ca_bundle))
    return True


class ComputeClient:
    def __init__(
        self,
        settings: ComputeSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: Callable[[CallRecord], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        auth = auth_from_credentials(settings.token, settings.username, settings.password)
        self._redact = Redactor(auth.secrets() if auth is not None else [])
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            auth=auth,
            timeout=httpx.Timeout(settings.action_timeout, connect=settings.connect_timeout),
            # HTTP/1.1 on aiohttp (vmop/transport.py), no more connections than requests in flight.
            transport=transport or AiohttpTransport(verify=_tls_verify(settings), connections=settings.max_concurrency),
        )
        self._timeouts = {
            pace: httpx.Timeout(seconds, connect=settings.connect_timeout)
            for pace, seconds in (
                ("query", settings.query_timeout),
                ("action", settings.action_timeout),
                ("long", settings.long_timeout),
            )
        }
        self._profile = settings.profile
        self._limit = asyncio.Semaphore(settings.max_concurrency)
        self._observer = observer
        self._sleep = sleep
        self._rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"ComputeClient(base_url={self._settings.base_url!r})"

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    async def __aenter__(self) -> ComputeClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------ plumbing

    async def _send(self, endpoint: Endpoint, request: RequestModel | None) -> tuple[httpx.Response, CallRecord]:
        body = request.wire() if request is not None else {}
        policy = self._settings.retry
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                timeout = self._timeouts[endpoint.pace]
                async with self._limit:
                    if endpoint.method == "GET":
                        response = await self._http.get(endpoint.path, params=_query(body), timeout=timeout)
                    else:
                        response = await self._http.post(endpoint.path, json=body, timeout=timeout)
                failure = _retryable_status(response)
                if failure is None:
                    return response, CallRecord(endpoint.path, None, time.monotonic() - started, attempt)
                self._observe(endpoint, None, started, attempt)
                may_retry = endpoint.idempotent
            except httpx.DecodingError:  # an answer came, but its Content-Encoding lies: not an envelope
                self._observe(endpoint, None, started, attempt)
                raise ComputeProtocolError(
                    endpoint.path, "the body does not decode as its Content-Encoding says"
                ) from None
            except httpx.TransportError as exc:
                self._observe(endpoint, None, started, attempt)
                refused = _tls_refusal(exc)
                failure = refused or type(exc).__name__
                # A certificate the client does not trust stays untrusted: no point trying again now.
                may_retry = (endpoint.idempotent or isinstance(exc, _NOT_SENT)) and refused is None
            if not may_retry or attempt >= policy.max_attempts:
                raise ComputeUnavailable(endpoint.path, failure)
            delay = self._rng.uniform(0, policy.ceiling(attempt))
            log.info("compute %s failed (%s), retry %d in %.2fs", endpoint.path, failure, attempt, delay)
            await self._sleep(delay)

    async def answer(self, endpoint: Endpoint, request: RequestModel | None) -> httpx.Response:
        """The platform's answer as it came (``vmop probe`` reports its shape), sent like any call."""
        response, _ = await self._send(endpoint, request)
        return response

    def _observe(self, endpoint: Endpoint, scode: int | None, started: float, attempt: int) -> None:
        if self._observer is not None:
            self._observer(CallRecord(endpoint.path, scode, time.monotonic() - started, attempt))

    def _report(self, record: CallRecord) -> None:
        if self._observer is not None:
            self._observer(record)

    async def _call(self, endpoint: Endpoint, request: RequestModel | None, data_type: type[M]) -> M:
        data, record = await self._call_unreported(endpoint, request, data_type)
        self._report(record)
        return data

    async def _call_unreported(
        self, endpoint: Endpoint, request: RequestModel | None, data_type: type[M]
    ) -> tuple[M, CallRecord]:
        """The data of a success and its record, for the caller to report once it knows more; a
        refusal is reported here and raised."""
        response, record = await self._send(endpoint, request)
        output = _parse(endpoint, response, _envelope(data_type))
        record = replace(record, scode=output.scode)
        if output.scode != 0:
            self._report(record)
            raise ComputeError.from_output(
                endpoint.path, output, self._profile, self._redactor(request), http_status=response.status_code
            )
        if output.data is None:
            try:
                return data_type(), record
            except ValidationError:  # success without the data this endpoint must return
                raise ComputeProtocolError(endpoint.path, f"scode 0 but no {data_type.__name__} in data") from None
        data: M = output.data
        return data, record

    async def _call_empty(self, endpoint: Endpoint, request: RequestModel) -> None:
        await self._call(endpoint, request, _Empty)

    def _redactor(self, request: RequestModel | None) -> Redactor:
        return self._redact if request is None else self._redact.adding(request.secrets())

    async def _call_batch(self, endpoint: Endpoint, request: RequestModel, item_type: type[M]) -> BatchResults[M]:
        batch = await self._call(endpoint, request, _batch_envelope(item_type))
        # Walking the request for its secrets only when an item failed: batches run often and mostly succeed.
        redact = self._redactor(request) if any(item.scode != 0 for item in batch.results) else self._redact
        items: list[ItemResult[M]] = [
            ItemResult(
                item.data,
                ComputeError.from_output(endpoint.path, item, self._profile, redact) if item.scode != 0 else None,
            )
            for item in batch.results
        ]
        failed = sum(1 for item in items if not item.ok)
        if len(items) != batch.success + batch.fail or failed != batch.fail:
            # A batch that reports failures it does not itemise would hide them: refuse it.
            raise ComputeProtocolError(
                endpoint.path,
                f"batch says success={batch.success} fail={batch.fail} but itemises {len(items)} ({failed} failed)",
            )
        return BatchResults(items)

    # ------------------------------------------------------------ reading

    async def list_vms(self, query: ListQuery) -> VmList:
        """One page. An entry that cannot be read is skipped and named in ``unreadable`` (logged and
        counted), never the whole page: one odd VM must not blind every object of its scope."""
        raw, record = await self._call_unreported(ep.LIST, query, _RawVmList)
        domains: list[ComputeInfo] = []
        unreadable: list[str] = []
        for index, entry in enumerate(raw.domains):
            try:
                domains.append(ComputeInfo.model_validate(entry))
            except ValidationError as exc:
                name = str(entry.get("uuid") or f"#{index}") if isinstance(entry, dict) else f"#{index}"
                unreadable.append(name)
                first = exc.errors()[0]
                log.warning(
                    "compute list: skipped VM %s: %s at %s",
                    name,
                    first["msg"],
                    ".".join(str(p) for p in first["loc"]),
                    extra={"uuid": name},
                )
        self._report(replace(record, unreadable=len(unreadable)))
        return VmList(
            domains=domains,
            total_count=raw.total_count,
            each_range_list_state=raw.each_range_list_state,
            object_group_counts=raw.object_group_counts,
            unreadable=unreadable,
        )

    def _list_query(self, page: int, page_size: int, **filters: Any) -> ListQuery:
        paging: dict[str, Any] = {param: page for param in self._profile.page_params}
        return ListQuery(page_size=page_size, **paging, **filters)

    async def list_all_vms(self, cluster_uuid: str, tenant: str, *, page_size: int = 500, **filters: Any) -> VmList:
        """Every VM matching the filters, page by page (ceil(total / page_size) calls). Pages must
        advance and add up to ``total_count``; when they do not (the platform reads another paging
        parameter than the profile's), one unpaged list (the doc: ``page_size`` not above 0) instead."""
        scope = {"cluster_uuid": cluster_uuid, "tenant": tenant, **filters}
        if page_size <= 0:
            return await self.list_vms(self._list_query(0, 0, **scope))
        seen: dict[str, ComputeInfo] = {}
        unreadable: list[str] = []
        page = 0
        while True:
            result = await self.list_vms(self._list_query(page, page_size, **scope))
            entries = len(result.domains) + len(result.unreadable)
            # A total of 0 beside entries is a total the platform did not send (null): then the
            # last page is the first one short of page_size.
            total = result.total_count if result.total_count or not entries else None
            fresh = [vm for vm in result.domains if vm.uuid not in seen]
            if page > 0 and result.domains and not fresh:
                return await self._unpaged(scope, f"page {page} repeats earlier pages")
            seen.update((vm.uuid, vm) for vm in fresh)
            unreadable += [name for name in result.unreadable if name not in unreadable]
            count = len(seen) + len(unreadable)
            if not entries or (count >= total if total is not None else entries < page_size):
                break
            page += 1
        if total is not None and count < total:
            return await self._unpaged(scope, f"pages ended at {len(seen) + len(unreadable)} of {total} VMs")
        return VmList(domains=list(seen.values()), total_count=max(count, total or 0), unreadable=unreadable)

    async def _unpaged(self, scope: dict[str, Any], why: str) -> VmList:
        log.warning(
            "compute list: %s (paging parameters sent: %s); listing without paging",
            why,
            ", ".join(self._profile.page_params),
        )
        result = await self.list_vms(self._list_query(0, 0, **scope))
        if len(result.domains) + len(result.unreadable) < result.total_count:  # a null total reads 0
            raise ComputeProtocolError(
                ep.LIST.path,
                f"{why}, and a list without paging returned {len(result.domains)} of {result.total_count} VMs",
            )
        return result

    async def inspect(self, vm: ComputeIdentifier, *, include_trash_vm: bool = False) -> ComputeInspectInfo:
        query = InspectQuery(
            cluster_uuid=vm.cluster_uuid,
            tenant=vm.tenant,
            compute_uuid=vm.compute_uuid,
            include_trash_vm=include_trash_vm,
        )
        return await self._call(ep.INSPECT, query, ComputeInspectInfo)

    async def detail(self, vm: ComputeIdentifier) -> dict[str, Any]:
        query = DetailQuery(cluster_uuid=vm.cluster_uuid, tenant=vm.tenant, compute_uuid=vm.compute_uuid)
        return (await self._call(ep.DETAIL, query, _Raw)).model_dump()

    async def state_summary(self, query: StateSummaryQuery) -> StateSummary:
        return await self._call(ep.STATE_SUMMARY, query, StateSummary)

    async def log(self, vm: ComputeIdentifier) -> VmLogPage:
        return await self._call(ep.LOG, vm, VmLogPage)

    # ------------------------------------------------------------ create and delete

    async def unified_create(self, request: UnifiedCreateRequest) -> BatchResults[CreateResult]:
        return await self._call_batch(ep.UNIFIED_CREATE, request, CreateResult)

    async def unified_import(self, request: UnifiedCreateRequest) -> BatchResults[CreateResult]:
        """unified_create, then an image import into the new volumes (the VM shows action importing)."""
        return await self._call_batch(ep.UNIFIED_IMPORT, request, CreateResult)

    async def import_progress(self, vm: ComputeIdentifier) -> int:
        return (await self._call(ep.IMPORT_PROGRESS, vm, Progress)).progress

    async def create_from_template(self, request: FromTemplateRequest) -> BatchResults[CreateResult]:
        endpoint = ep.FROM_TEMPLATE_ASSIGNED if request.assign_vm_uuid else ep.FROM_TEMPLATE
        return await self._call_batch(endpoint, request, CreateResult)

    async def delete(self, request: DeleteRequest) -> None:
        await self._call_empty(ep.DELETE, request)

    async def batch_delete(self, request: BatchDeleteRequest) -> BatchResults[BatchItem]:
        return await self._call_batch(ep.BATCH_DELETE, request, BatchItem)

    async def clone(self, request: CloneRequest) -> BatchResults[CloneResult]:
        return await self._call_batch(ep.CLONE, request, CloneResult)

    async def clone_progress(self, vm: ComputeIdentifier) -> int:
        return (await self._call(ep.CLONE_PROGRESS, vm, Progress)).progress

    # ------------------------------------------------------------ power

    async def start(self, vm: ComputeIdentifier, *, cloud_init: bool = False) -> None:
        await self._call_empty(ep.START, StartRequest(**_identity(vm), cloud_init=cloud_init))

    async def shutdown(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.SHUTDOWN, PowerRequest(**_identity(vm)))

    async def shutoff(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.SHUTOFF, PowerRequest(**_identity(vm)))

    async def reboot(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.REBOOT, PowerRequest(**_identity(vm)))

    async def reset(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.RESET, PowerRequest(**_identity(vm)))

    async def suspend(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.SUSPEND, PowerRequest(**_identity(vm)))

    async def resume(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.RESUME, PowerRequest(**_identity(vm)))

    async def save(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.SAVE, PowerRequest(**_identity(vm)))

    async def restore(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.RESTORE, PowerRequest(**_identity(vm)))

    async def batch_start(
        self, vms: Sequence[ComputeIdentifier], *, cloud_init: bool = False
    ) -> BatchResults[BatchItem]:
        return await self._call_batch(
            ep.BATCH_START, BatchStartRequest(vms=list(vms), cloud_init=cloud_init), BatchItem
        )

    async def batch_shutdown(self, vms: Sequence[ComputeIdentifier]) -> BatchResults[BatchItem]:
        return await self._call_batch(ep.BATCH_SHUTDOWN, BatchPowerRequest(vms=list(vms)), BatchItem)

    async def batch_shutoff(self, vms: Sequence[ComputeIdentifier]) -> BatchResults[BatchItem]:
        return await self._call_batch(ep.BATCH_SHUTOFF, BatchPowerRequest(vms=list(vms)), BatchItem)

    async def batch_reboot(self, vms: Sequence[ComputeIdentifier]) -> BatchResults[BatchItem]:
        return await self._call_batch(ep.BATCH_REBOOT, BatchPowerRequest(vms=list(vms)), BatchItem)

    async def batch_reset(self, vms: Sequence[ComputeIdentifier]) -> BatchResults[BatchItem]:
        return await self._call_batch(ep.BATCH_RESET, BatchPowerRequest(vms=list(vms)), BatchItem)

    async def batch_suspend(self, vms: Sequence[ComputeIdentifier]) -> BatchResults[BatchItem]:
        return await self._call_batch(ep.BATCH_SUSPEND, BatchPowerRequest(vms=list(vms)), BatchItem)

    async def batch_resume(self, vms: Sequence[ComputeIdentifier]) -> BatchResults[BatchItem]:
        return await self._call_batch(ep.BATCH_RESUME, BatchPowerRequest(vms=list(vms)), BatchItem)

    async def batch_save(self, vms: Sequence[ComputeIdentifier]) -> BatchResults[BatchItem]:
        return await self._call_batch(ep.BATCH_SAVE, BatchPowerRequest(vms=list(vms)), BatchItem)

    async def batch_restore(self, vms: Sequence[ComputeIdentifier]) -> BatchResults[BatchItem]:
        return await self._call_batch(ep.BATCH_RESTORE, BatchPowerRequest(vms=list(vms)), BatchItem)

    async def reboot_ga(self, vm: ComputeIdentifier) -> None:
        """Reboot through the guest agent (running, no action, agent connected); the reboot follows later."""
        await self._call_empty(ep.REBOOT_GA, PowerRequest(**_identity(vm)))

    async def batch_reboot_ga(self, vms: Sequence[ComputeIdentifier]) -> BatchResults[BatchItem]:
        return await self._call_batch(ep.BATCH_REBOOT_GA, BatchPowerRequest(vms=list(vms)), BatchItem)

    # ------------------------------------------------------------ shape and devices

    async def set_vcpu(self, request: VcpuSetRequest) -> None:
        await self._call_empty(ep.VCPU_SET, request)

    async def set_memory(self, vm: ComputeIdentifier, size_bytes: int) -> None:
        await self._call_empty(ep.VMEMORY_SET, VmemorySetRequest(**_identity(vm), vmemory=size_bytes))

    async def set_meta(self, request: MetaSetRequest) -> None:
        await self._call_empty(ep.META_SET, request)

    async def set_boot_order(self, vm: ComputeIdentifier, device_order: Sequence[str]) -> None:
        await self._call_empty(ep.BOOTORDER_SET, BootOrderSetRequest(**_identity(vm), device_order=list(device_order)))

    async def attach_disk(self, request: DiskAttachRequest) -> None:
        await self._call_empty(ep.DISK_ATTACH, request)

    async def export_disk(self, request: DiskExportRequest) -> str:
        """Start exporting a disk as an image (asynchronous: the VM shows action exporting)."""
        return (await self._call(ep.DISK_EXPORT, request, ExportStarted)).name

    async def export_progress(self, vm: ComputeIdentifier) -> int:
        """0-100 while exporting; the doc's scode 22151 (NOT_EXPORTING) when no export runs."""
        query = DiskExportProgressQuery(cluster_uuid=vm.cluster_uuid, tenant=vm.tenant, compute_uuid=vm.compute_uuid)
        return (await self._call(ep.DISK_EXPORT_PROGRESS, query, Progress)).progress

    async def update_disk(self, vm: ComputeIdentifier, target_device: str, new_disk: Disk) -> None:
        request = DiskUpdateRequest(**_identity(vm), old_disk=Disk(disk_target_device=target_device), new_disk=new_disk)
        await self._call_empty(ep.DISK_UPDATE, request)

    async def detach_disk(self, vm: ComputeIdentifier, target_device: str) -> None:
        await self._call_empty(ep.DISK_DETACH, DiskDetachRequest(**_identity(vm), target_device=target_device))

    async def attach_interface(self, request: InterfaceAttachRequest) -> Interface:
        attached = await self._call(ep.INTERFACE_ATTACH, request, InterfaceAttached)
        return attached.interface_return or Interface()

    async def detach_interface(self, vm: ComputeIdentifier, mac_address: str) -> None:
        await self._call_empty(ep.INTERFACE_DETACH, InterfaceDetachRequest(**_identity(vm), mac_address=mac_address))

    async def set_interface_qos(
        self,
        vm: ComputeIdentifier,
        mac_address: str,
        *,
        in_bound: InterfaceBound | None = None,
        out_bound: InterfaceBound | None = None,
    ) -> None:
        request = InterfaceSetQosRequest(
            **_identity(vm), mac_address=mac_address, in_bount=in_bound, out_bount=out_bound
        )
        await self._call_empty(ep.INTERFACE_SETQOS, request)

    async def attach_cdrom(self, vm: ComputeIdentifier, image_name: str, repository_uuid: str) -> None:
        request = CdromAttachRequest(**_identity(vm), source_network_name=image_name, repository_uuid=repository_uuid)
        await self._call_empty(ep.CDROM_ATTACH, request)

    async def detach_cdrom(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.CDROM_DETACH, vm)

    async def attach_floppy(self, vm: ComputeIdentifier, image_name: str, repository_uuid: str) -> None:
        request = FloppyAttachRequest(**_identity(vm), source_network_name=image_name, repository_uuid=repository_uuid)
        await self._call_empty(ep.FLOPPY_ATTACH, request)

    async def detach_floppy(self, vm: ComputeIdentifier) -> None:
        """Ejects the image; the floppy drive stays."""
        await self._call_empty(ep.FLOPPY_DETACH, vm)

    async def modify_network(
        self,
        vm: ComputeIdentifier,
        mac_address: str,
        *,
        interface_type: str,
        port_group: str,
        vlan_tag_ids: Sequence[int] = (),
    ) -> None:
        """Move a NIC to another local network / port group / VLAN (shut off; never VPC)."""
        request = ModifyNetworkRequest(
            **_identity(vm),
            mac_address=mac_address,
            interface_type=interface_type,
            port_group=port_group,
            vlan_tag_ids=list(vlan_tag_ids),
        )
        await self._call_empty(ep.MODIFY_NETWORK, request)

    async def update_interface_mac(self, vm: ComputeIdentifier, old_mac: str, new_mac: str) -> None:
        request = InterfaceMacUpdateRequest(**_identity(vm), old_mac_address=old_mac, new_mac_address=new_mac)
        await self._call_empty(ep.INTERFACE_MAC_UPDATE, request)

    async def update_ip_mac_bind(
        self, vm: ComputeIdentifier, interface_id: str, mac_address: str, *, bound_ip: str = "", peer: IpMacPeer = ""
    ) -> None:
        """Bind (peer "mac") or unbind ("none") a NIC's MAC and IP, or keep it ("") while setting
        the IP; a new ``mac_address`` needs the VM shut off."""
        request = IpMacBindRequest(
            **_identity(vm), interface_id=interface_id, mac_address=mac_address, bound_ip=bound_ip, peer=peer
        )
        await self._call_empty(ep.IP_MAC_BIND_UPDATE, request)

    async def attach_pci(self, vm: ComputeIdentifier, device: PCIDevice) -> None:
        await self._call_empty(ep.PCI_ATTACH, PciDeviceRequest(**_identity(vm), pci_device=device))

    async def detach_pci(self, vm: ComputeIdentifier, device: PCIDevice) -> None:
        await self._call_empty(ep.PCI_DETACH, PciDeviceRequest(**_identity(vm), pci_device=device))

    async def attach_mdev(self, vm: ComputeIdentifier, device: MdevDevice) -> None:
        await self._call_empty(ep.MDEV_ATTACH, MdevDeviceRequest(**_identity(vm), mdev_device=device))

    async def detach_mdev(self, vm: ComputeIdentifier, src_address_uuid: str) -> None:
        """The doc: only the uuid is needed."""
        request = MdevDeviceRequest(**_identity(vm), mdev_device=MdevDevice(src_address_uuid=src_address_uuid))
        await self._call_empty(ep.MDEV_DETACH, request)

    async def attach_usb(self, vm: ComputeIdentifier, devices: Sequence[UsbAttachment]) -> BatchResults[UsbAttached]:
        """One result per device, in order (the doc wraps them in a BatchOutput)."""
        return await self._call_batch(ep.USB_ATTACH, UsbAttachRequest(**_identity(vm), usb=list(devices)), UsbAttached)

    async def detach_usb(self, vm: ComputeIdentifier, bus: int, port: int) -> None:
        await self._call_empty(ep.USB_DETACH, UsbDetachRequest(**_identity(vm), target_bus=bus, target_port=port))

    async def attach_video(self, vm: ComputeIdentifier, videos: Sequence[ComputeVideo]) -> None:
        await self._call(ep.VIDEO_ATTACH, VideoAttachRequest(**_identity(vm), videos=list(videos)), VmNamed)

    async def detach_video(self, vm: ComputeIdentifier, index: int) -> None:
        """Remove the video device at ``index`` (1 or more: 0 stays); the rest are renumbered from 0."""
        await self._call(ep.VIDEO_DETACH, VideoDetachRequest(**_identity(vm), heads=index), VmNamed)

    async def edit_video(self, vm: ComputeIdentifier, index: int, video: ComputeVideo) -> None:
        """Change the video device at ``index``: sent as ``video`` with ``heads`` = index, and as
        ``videos`` (requests.VideoEditRequest says why both)."""
        device = video.model_copy(update={"heads": index})
        request = VideoEditRequest(**_identity(vm), video=device, videos=[device])
        await self._call(ep.VIDEO_EDIT, request, VmNamed)

    # ------------------------------------------------------------ console, resources, guest

    async def set_balloon(self, vm: ComputeIdentifier, size_bytes: int) -> None:
        await self._call_empty(ep.BALLOON_SET, BalloonSetRequest(**_identity(vm), memory=size_bytes))

    async def set_graphics(
        self,
        vm: ComputeIdentifier,
        *,
        compression: GraphicsCompression | None = None,
        streaming: GraphicsStreaming | None = None,
    ) -> None:
        """vgpu/set: spice compression and streaming modes (shut off); one left out is not changed."""
        fields: dict[str, Any] = {"compression": compression, "mode": streaming}
        request = VgpuSetRequest(**_identity(vm), **{k: v for k, v in fields.items() if v is not None})
        await self._call_empty(ep.VGPU_SET, request)

    async def set_graphics_password(
        self, vm: ComputeIdentifier, *, vnc: SecretStr | None = None, spice: SecretStr | None = None
    ) -> None:
        """Hot-set console passwords, each in the platform's encrypted form; one left out is not changed."""
        if vnc is None and spice is None:
            raise ValueError("set_graphics_password: give vnc, spice or both")
        fields: dict[str, Any] = {"vnc_password": vnc, "spice_password": spice}
        request = GraphicsPasswordSetRequest(**_identity(vm), **{k: v for k, v in fields.items() if v is not None})
        await self._call_empty(ep.GRAPHICS_PASSWORD_SET, request)

    async def set_cpu_reserve(self, vm: ComputeIdentifier, enabled: bool) -> None:
        await self._call_empty(ep.CPU_RESERVE, CpuReserveRequest(**_identity(vm), cpu_reserve_enable=enabled))

    async def set_memory_reserve(self, vm: ComputeIdentifier, enabled: bool) -> None:
        """Shut off only. Sent under both names the doc gives (requests.MemoryReserveRequest)."""
        request = MemoryReserveRequest(**_identity(vm), memory_reserve_enable=enabled, cpu_reserve_enable=enabled)
        await self._call_empty(ep.MEMORY_RESERVE, request)

    async def cloud_init(self, vm: ComputeIdentifier) -> CloudInitData | None:
        """The VM's cloud-init data (None when it has none): secret, never to be logged."""
        query = CloudInitQuery(cluster_uuid=vm.cluster_uuid, tenant=vm.tenant, compute_uuid=vm.compute_uuid)
        return (await self._call(ep.CLOUD_INIT_GET, query, CloudInitInfo)).cloud_init_data

    async def set_cloud_init(self, vm: ComputeIdentifier, data: CloudInitData) -> None:
        """Used at the next start with ``cloud_init=True``."""
        await self._call_empty(ep.CLOUD_INIT_SET, CloudInitSetRequest(**_identity(vm), cloud_init_data=data))

    async def alter_device_name(self, vm: ComputeIdentifier, device_name: str) -> DeviceNameAltered:
        """Rename a Windows guest's computer through its agent (running, agent connected)."""
        request = AlterDeviceNameRequest(**_identity(vm), device_name=device_name)
        return await self._call(ep.ALTER_DEVICE_NAME, request, DeviceNameAltered)

    async def screenshot(self, vm: ComputeIdentifier) -> str:
        """A screenshot of a running VM's screen: its URL."""
        return (await self._call(ep.SCREENSHOT, vm, Screenshot)).screenshot_url

    async def list_screenshots(self, vm: ComputeIdentifier) -> list[str]:
        """URLs of the screenshots saved when the guest crashed."""
        query = ScreenshotListQuery(cluster_uuid=vm.cluster_uuid, tenant=vm.tenant, compute_uuid=vm.compute_uuid)
        return (await self._call(ep.LIST_SCREENSHOT, query, ScreenshotList)).urls

    async def support_config(self, cluster_uuid: str, zone: str = "") -> dict[str, Any]:
        """What a create may ask for (OS types, baselines...): the doc gives only an example, read as is."""
        query = SupportConfigQuery(cluster_uuid=cluster_uuid, zone=zone)
        return (await self._call(ep.SUPPORT_CONFIG, query, _Raw)).model_dump()

    # ------------------------------------------------------------ migration

    async def migrate(self, vm: ComputeIdentifier, destination_host: str) -> str:
        started = await self._call(
            ep.MIGRATE, MigrateRequest(**_identity(vm), destination=destination_host), MigrateStarted
        )
        return started.compute_name

    async def migrate_abort(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.MIGRATE_ABORT, vm)

    async def cross_cluster_migrate(self, request: CrossClusterMigrateRequest) -> None:
        await self._call_empty(ep.CROSS_CLUSTER_MIGRATE, request)

    async def cross_cluster_cancel(self, vm: ComputeIdentifier) -> None:
        await self._call_empty(ep.CROSS_CLUSTER_CANCEL, vm)

    async def cross_cluster_progress(self, vm: ComputeIdentifier) -> int:
        return (await self._call(ep.CROSS_CLUSTER_PROGRESS, vm, Progress)).progress

    # ------------------------------------------------------------ groups

    async def group_create(self, request: GroupCreateRequest) -> ObjectGroupCache:
        return await self._call(ep.GROUP_CREATE, request, ObjectGroupCache)

    async def group_delete(self, request: GroupRef) -> None:
        await self._call_empty(ep.GROUP_DELETE, request)

    async def group_update(self, request: GroupUpdateRequest) -> None:
        await self._call_empty(ep.GROUP_UPDATE, request)

    async def group_move(self, request: GroupMoveRequest) -> None:
        await self._call_empty(ep.GROUP_MOVE, request)

    async def group_inspect(self, query: GroupInspectQuery) -> ObjectGroupCache:
        return await self._call(ep.GROUP_INSPECT, query, ObjectGroupCache)

    async def group_tree(self, query: GroupTreeQuery) -> GroupTree:
        return await self._call(ep.GROUP_TREE, query, GroupTree)


class _Empty(BaseModel):
    """``data: {}``: nothing to read, unknown fields ignored."""


class _Raw(BaseModel):
    model_config = ConfigDict(extra="allow")


class _RawVmList(VmList):
    """A list page whose entries are read one by one (list_vms), so one bad entry spoils only itself."""

    domains: NullableList[Any] = Field(default_factory=list)


def _identity(vm: ComputeIdentifier) -> dict[str, Any]:
    return vm.model_dump(exclude_unset=True)


def _query(body: dict[str, Any]) -> dict[str, str]:
    """GET parameters as the platform expects them: booleans lower-case, empty values left out."""
    params: dict[str, str] = {}
    for key, value in body.items():
        if value in ("", None):
            continue
        params[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return params


def _tls_refusal(exc: BaseException) -> str | None:
    """What went wrong in the TLS handshake, when that is why the connection failed: the
    certificate check's own words (untrusted issuer, wrong host name), never request data."""
    cause: BaseException | None = exc
    for _ in range(8):  # the chain is short (httpx -> httpcore -> ssl); never follow a cycle
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {cause.verify_message or cause.reason}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or type(cause).__name__}"
        cause = cause.__cause__ or cause.__context__
    return None


class _Head(BaseModel):
    scode: int


def _retryable_status(response: httpx.Response) -> str | None:
    """Why to try again, for a 429 or 5xx that carries no envelope; one that does is the platform's
    answer (its scode and messages are read like any other)."""
    if response.status_code == 429 or response.status_code >= 500:
        try:
            _Head.model_validate_json(response.content)
        except ValidationError:
            return f"HTTP {response.status_code}"
    return None


# pydantic keeps parametrized generics only weakly: without these caches every call built its
# envelope class anew (measured in bench/: a few percent of the operator's CPU at 1,000 VMs).
@functools.cache
def _envelope(data_type: type[M]) -> type[Output[M]]:
    return Output[data_type]  # type: ignore[valid-type]


@functools.cache
def _batch_envelope(item_type: type[M]) -> type[BatchOutput[M]]:
    return BatchOutput[item_type]  # type: ignore[valid-type]


def _parse(endpoint: Endpoint, response: httpx.Response, model: type[M]) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        reason = f"HTTP {response.status_code}, {first['msg']} at {where or 'body'}"
        raise ComputeProtocolError(endpoint.path, reason) from None

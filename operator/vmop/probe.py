"""``vmop probe``: a read-only conformance check of a compute endpoint, run before installing.

It reads (list, inspect) and never changes anything: reachability, TLS, authentication, the
envelope, list paging (which parameter advances pages, ``page_size`` <= 0), what the platform
answers for a uuid that does not exist, and how a VM named on the command line shows when
hibernated. It prints a table, then the platform profile values (compute/profile.py) that match
what it saw, and exits non-zero when vmop cannot work against the endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from vmop.compute import endpoints as ep
from vmop.compute.client import ComputeClient
from vmop.compute.errors import ComputeError, ComputeUnavailable
from vmop.compute.models import ComputeIdentifier, ComputeInfo
from vmop.compute.profile import PAGE_PARAMS, PlatformProfile
from vmop.compute.requests import InspectQuery, ListQuery
from vmop.compute.rules import is_hibernated
from vmop.compute.settings import ComputeSettings, RetryPolicy

Verdict = Literal["ok", "FAIL", "note"]


@dataclass
class Check:
    name: str
    verdict: Verdict
    detail: str


@dataclass
class Findings:
    checks: list[Check] = field(default_factory=list)
    not_found_scode: int | None = None
    page_params: tuple[str, ...] = ()
    hibernated: tuple[str, str] | None = None

    def add(self, name: str, verdict: Verdict, detail: str) -> None:
        self.checks.append(Check(name, verdict, detail))

    @property
    def failed(self) -> bool:
        return any(check.verdict == "FAIL" for check in self.checks)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compute-url", required=True, help="the compute API base URL")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--credentials-secret", help="NAMESPACE/NAME of the Secret vmop run would use (kubeconfig)")
    secret.add_argument("--token-file", type=Path, help="a file holding the bearer token")
    parser.add_argument("--ca-file", type=Path, help="PEM CAs to trust instead of the system's")
    parser.add_argument("--insecure-skip-verify", action="store_true", help="do not verify the platform's TLS")
    parser.add_argument("--kubeconfig", type=Path, help="for --credentials-secret; default: the usual lookup")
    parser.add_argument("--cluster", default="", help="cluster uuid to probe (default: every cluster)")
    parser.add_argument("--tenant", default="", help="tenant uuid to probe (default: every tenant)")
    parser.add_argument(
        "--hibernated-vm", metavar="UUID", help="a VM hibernated (save) on this platform: shows the shape it takes"
    )


async def _settings(args: argparse.Namespace) -> ComputeSettings:
    secret: dict[str, str] = {}
    if args.credentials_secret:
        from vmop.controller.kube import KubeAccess
        from vmop.engine import WriteLimiter

        namespace, _, name = args.credentials_secret.partition("/")
        kube = await KubeAccess.connect(
            str(args.kubeconfig) if args.kubeconfig else None, WriteLimiter(5, 1), connections=1
        )
        try:
            secret = await kube.secret_data(namespace, name)
        finally:
            await kube.close()
    elif args.token_file:
        secret = {"token": args.token_file.read_text().strip()}
    ca = args.ca_file
    return ComputeSettings(
        base_url=args.compute_url,
        token=SecretStr(secret["token"]) if secret.get("token") else None,
        username=secret.get("username"),
        password=SecretStr(secret["password"]) if secret.get("password") else None,
        ca_bundle=ca,
        verify_tls=not args.insecure_skip_verify,
        retry=RetryPolicy(max_attempts=2, base_delay=0.2),
    )


async def probe(client: ComputeClient, cluster: str, tenant: str, hibernated_vm: str | None) -> Findings:
    found = Findings()
    scope: dict[str, Any] = {"cluster_uuid": cluster, "tenant": tenant}
    try:
        first = await client.list_vms(ListQuery(**scope, page_size=2, page_number=0, page_num=0))
    except ComputeUnavailable as error:
        found.add("reachable, TLS", "FAIL", error.message)
        return found
    except ComputeError as error:
        found.add("reachable, TLS", "ok", "the platform answers in its envelope")
        found.add("authentication, list", "FAIL", str(error))
        return found
    found.add("reachable, TLS", "ok", client.base_url)
    found.add("authentication, envelope", "ok", f"list answers scode 0 ({first.total_count} VMs in scope)")
    if first.unreadable:
        found.add("VM entries", "note", f"{len(first.unreadable)} unreadable entries skipped: {first.unreadable[:3]}")
    await _paging(client, scope, first.domains, first.total_count, found)
    sample = first.domains[0] if first.domains else None
    await _not_found(client, cluster or (sample.cluster_uuid if sample else ""), tenant, found)
    if hibernated_vm:
        await _hibernated(client, cluster, tenant, hibernated_vm, sample, found)
    else:
        found.add("hibernated shape", "note", "not checked (--hibernated-vm); vmop reads both likely shapes")
    found.add("busy / agent-missing scodes", "note", "not observable without acting; retried with backoff anyway")
    return found


async def _paging(
    client: ComputeClient, scope: dict[str, Any], head: list[ComputeInfo], total: int, found: Findings
) -> None:
    unpaged = await client.list_vms(ListQuery(**scope, page_size=0))
    if len(unpaged.domains) + len(unpaged.unreadable) >= total:
        found.add("page_size <= 0", "ok", f"lists all {total} VMs at once, as the doc says")
    else:
        found.add("page_size <= 0", "note", f"returned {len(unpaged.domains)} of {total} VMs")
    if len(head) < 2:
        found.add("paging parameter", "note", "fewer than 2 VMs in scope: cannot tell; vmop sends both")
        return
    page0 = head[0].uuid
    advancing: list[str] = []
    for param in PAGE_PARAMS:
        only: dict[str, Any] = {param: 1}  # this parameter alone
        page = await client.list_vms(ListQuery(**scope, page_size=1, **only))
        if page.domains and page.domains[0].uuid != page0:
            advancing.append(param)
    found.page_params = tuple(advancing)
    if advancing:
        found.add("paging parameter", "ok", f"{', '.join(advancing)} advances pages")
    elif len(unpaged.domains) + len(unpaged.unreadable) >= total:
        found.add("paging parameter", "note", "neither page_number nor page_num advances: vmop lists unpaged")
    else:
        found.add("paging parameter", "FAIL", "pages never advance and an unpaged list is short: VMs unseen")


async def _not_found(client: ComputeClient, cluster: str, tenant: str, found: Findings) -> None:
    if not cluster:
        found.add("not-found scode", "note", "no cluster known (--cluster): not checked")
        return
    missing = str(uuidlib.uuid4())
    listed = await client.list_vms(ListQuery(cluster_uuid=cluster, tenant=tenant, filter_uuid=missing))
    if listed.domains:
        found.add("list filter_uuid", "FAIL", "a uuid that does not exist is listed: vmop cannot tell a VM is gone")
    else:
        found.add("list filter_uuid", "ok", "a missing uuid lists nothing (how vmop decides a VM is gone)")
    query = InspectQuery(cluster_uuid=cluster, tenant=tenant, compute_uuid=missing)
    response = await client.answer(ep.INSPECT, query)
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("scode"), int):
        found.add("not-found answer", "FAIL", f"HTTP {response.status_code}, not an envelope")
        return
    found.not_found_scode = body["scode"]
    shown = "null" if body.get("data") is None else json.dumps(body.get("data"))[:20]
    found.add(
        "not-found answer",
        "ok" if body["scode"] != 0 else "FAIL",
        f"scode {body['scode']} ({body.get('message', '')}), HTTP {response.status_code}, data {shown}",
    )


async def _hibernated(
    client: ComputeClient, cluster: str, tenant: str, vm_uuid: str, sample: ComputeInfo | None, found: Findings
) -> None:
    listed = await client.list_vms(ListQuery(cluster_uuid=cluster, tenant=tenant, filter_uuid=vm_uuid))
    where = listed.domains[0].cluster_uuid if listed.domains else (sample.cluster_uuid if sample else cluster)
    try:
        info = await client.inspect(ComputeIdentifier(cluster_uuid=where, tenant=tenant, compute_uuid=vm_uuid))
    except ComputeError as error:
        found.add("hibernated shape", "FAIL", f"inspect {vm_uuid}: {error}")
        return
    found.hibernated = (info.state, info.action)
    if is_hibernated(info.state, info.action):
        found.add("hibernated shape", "ok", f"state {info.state}, action {info.action}: restored, never started")
    else:
        found.add(
            "hibernated shape",
            "FAIL",
            f"state {info.state}, action {info.action}: vmop would not read this VM as hibernated",
        )


def suggested_flags(found: Findings) -> list[str]:
    """`vmop run` flags for what was seen (nothing where vmop's default already fits: it sends both
    paging parameters, and reads both hibernated shapes)."""
    defaults = PlatformProfile()
    flags: list[str] = []
    if found.not_found_scode and found.not_found_scode not in defaults.not_found_scodes:
        flags.append(f"--not-found-scode={found.not_found_scode}")
    if found.page_params and not set(found.page_params) & set(defaults.page_params):
        flags.append(f"--page-param={found.page_params[0]}")
    return flags


def render(found: Findings) -> str:
    width = max(len(check.name) for check in found.checks)
    lines = [f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
    lines += [f"{check.name:<{width}}  {check.verdict:<6}  {check.detail}" for check in found.checks]
    lines.append("")
    lines.append("platform profile seen:")
    lines.append(f"  not-found scode:  {found.not_found_scode if found.not_found_scode is not None else '-'}")
    lines.append(f"  paging parameter: {', '.join(found.page_params) or '-'}")
    lines.append(f"  hibernated shape: {'+'.join(found.hibernated) if found.hibernated else '-'}")
    flags = suggested_flags(found)
    lines.append(f"vmop run flags to set: {' '.join(flags) if flags else 'none (the defaults fit)'}")
    lines.append("verdict: " + ("vmop cannot work against this platform" if found.failed else "vmop can work here"))
    return "\n".join(lines)


def run_probe(args: argparse.Namespace) -> int:
    async def main() -> Findings:
        async with ComputeClient(await _settings(args)) as client:
            return await probe(client, args.cluster, args.tenant, args.hibernated_vm)

    found = asyncio.run(main())
    print(render(found))
    return 1 if found.failed else 0

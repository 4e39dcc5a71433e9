"""vmop's Kubernetes client (controller/kube.py) against an in-process apiserver (httpx's
MockTransport): what goes on the wire (paths, content types, preconditions), the apiserver's
refusals as KubeError, its overload answers and timeouts pausing the one WriteLimiter, and a
rotated token reread once on a 401."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
from typing import Any

import httpx
import kopf
import pytest

from tests.support.clock import VirtualClock, settle
from vmop.api import GROUP, VERSION
from vmop.controller.kube import MERGE_PATCH, KubeAccess, KubeError, is_conflict, is_gone, login
from vmop.engine import Backoff, WriteLimiter

SERVER = "https://apiserver.test"
VMS = f"/apis/{GROUP}/{VERSION}/namespaces/ns/virtualmachines"


class FakeApiserver:
    """The apiserver's rules vmop relies on, for a handful of objects: merge patches (of the object
    and of /status), a resourceVersion in a patch as a precondition, uid preconditions on delete,
    bearer tokens. ``answer``, when set, answers the next requests instead (overload, hanging);
    ``arrive``, when set, is awaited first by each request."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.tokens = {"first"}
        self.requests: list[httpx.Request] = []
        self.answer: Any = None
        self.arrive: Any = None
        self._rv = 100

    def add(self, path: str, obj: dict[str, Any]) -> None:
        self._rv += 1
        self.objects[path] = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._rv)}}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.arrive is not None:
            await self.arrive(request)
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return status_response(401, "Unauthorized")
        if self.answer is not None:
            return await self.answer(request)
        path = request.url.path
        body = json.loads(request.content) if request.content else None
        if request.method == "POST" and path.endswith("/selfsubjectaccessreviews"):
            allowed = body["spec"]["resourceAttributes"]["verb"] == "get"
            return httpx.Response(201, json={**body, "status": {"allowed": allowed}})
        if request.method == "GET" and path == VMS:
            wanted = dict(pair.split("=") for pair in request.url.params["labelSelector"].split(","))
            items = [o for p, o in self.objects.items() if p.startswith(VMS + "/") and _labelled(o, wanted)]
            return httpx.Response(200, json={"kind": "List", "items": items})
        if request.method == "POST":
            self.add(f"{path}/{body['metadata']['name']}", body)
            return httpx.Response(201, json=self.objects[f"{path}/{body['metadata']['name']}"])
        subresource = path.endswith("/status")
        found = self.objects.get(path.removesuffix("/status"))
        if found is None:
            return status_response(404, "Not Found")
        if request.method == "GET":
            return httpx.Response(200, json=found)
        if request.method == "DELETE":
            if body["preconditions"]["uid"] != found["metadata"]["uid"]:
                return status_response(409, "Conflict", "Precondition failed: UID in precondition")
            del self.objects[path]
            return httpx.Response(200, json=found)
        if request.headers["Content-Type"] != MERGE_PATCH:
            return status_response(415, "Unsupported Media Type")
        patch = {"status": body["status"]} if subresource else {k: v for k, v in body.items() if k != "status"}
        wanted_rv = patch.get("metadata", {}).pop("resourceVersion", None)
        if wanted_rv is not None and wanted_rv != found["metadata"]["resourceVersion"]:
            return status_response(409, "Conflict", "the object has been modified")
        merged = _merge(copy.deepcopy(found), patch)
        self.add(path.removesuffix("/status"), merged)
        return httpx.Response(200, json=self.objects[path.removesuffix("/status")])


def status_response(code: int, reason: str, message: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    status = {"kind": "Status", "status": "Failure", "reason": reason.replace(" ", ""), "message": message}
    return httpx.Response(code, json={**status, "code": code}, headers=headers)


def _labelled(obj: dict[str, Any], wanted: dict[str, str]) -> bool:
    labels = obj["metadata"].get("labels", {})
    return all(labels.get(k) == v for k, v in wanted.items())


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value
    return target


def vm(name: str, uid: str = "uid-1", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": uid, "labels": labels}, "spec": {"memory": "2Gi"}}


class Credentials:
    """kopf's login, with a token that may be rotated; counts the logins."""

    def __init__(self, token: str = "first") -> None:
        self.token = token
        self.logins = 0

    def __call__(self) -> kopf.ConnectionInfo:
        self.logins += 1
        return kopf.ConnectionInfo(server=SERVER, token=self.token)


@pytest.fixture
def apiserver() -> FakeApiserver:
    server = FakeApiserver()
    server.add(f"{VMS}/one", vm("one", app="a"))
    return server


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def access(
    apiserver: FakeApiserver,
    clock: VirtualClock,
    credentials: Credentials | None = None,
    timeout: float = 30.0,
) -> KubeAccess:
    limiter = WriteLimiter(1000, 1000, clock=clock, backoff=Backoff(base=1.0, cap=4.0, jitter=0.2), draw=lambda: 0.0)
    return KubeAccess(
        credentials or Credentials(),
        limiter,
        connections=2,
        timeout=timeout,
        transport=httpx.MockTransport(apiserver),
    )


async def waits_for_a_token(kube: KubeAccess, clock: VirtualClock, seconds: float) -> bool:
    """Whether the next request is held by the limiter for ``seconds``, and no longer."""
    held = asyncio.create_task(kube.namespace_annotations("ns"))
    await clock.advance(seconds - 0.01)
    before = held.done()
    await clock.advance(0.02)
    with_answer = held.done()
    held.cancel()
    return not before and with_answer


async def test_status_and_metadata_are_merge_patches_of_the_object(
    apiserver: FakeApiserver, clock: VirtualClock
) -> None:
    kube = access(apiserver, clock)
    stored = await kube.patch_status("virtualmachines", "ns", "one", {"phase": "Pending"})
    assert stored["status"] == {"phase": "Pending"}
    stored = await kube.patch_metadata("virtualmachines", "ns", "one", annotations={"vmop/x": "1"})
    assert stored["metadata"]["annotations"] == {"vmop/x": "1"}
    assert stored["status"] == {"phase": "Pending"}, "a merge: the status stays"
    stored = await kube.patch_metadata("virtualmachines", "ns", "one", annotations={"vmop/x": None})
    assert stored["metadata"]["annotations"] == {}
    status_patch, metadata_patch, _ = apiserver.requests
    assert (status_patch.method, status_patch.url.path) == ("PATCH", f"{VMS}/one/status")
    assert status_patch.headers["Content-Type"] == MERGE_PATCH
    assert json.loads(metadata_patch.content) == {"metadata": {"annotations": {"vmop/x": "1"}}}
    await kube.close()


async def test_a_finalizer_list_is_written_on_the_view_it_was_based_on(
    apiserver: FakeApiserver, clock: VirtualClock
) -> None:
    kube = access(apiserver, clock)
    seen = apiserver.objects[f"{VMS}/one"]["metadata"]["resourceVersion"]
    stored = await kube.patch_metadata("virtualmachines", "ns", "one", finalizers=["vmop"], resource_version=seen)
    assert stored["metadata"]["finalizers"] == ["vmop"]
    with pytest.raises(KubeError) as refused:  # the object changed since ``seen``
        await kube.patch_metadata("virtualmachines", "ns", "one", finalizers=[], resource_version=seen)
    assert is_conflict(refused.value) and not is_gone(refused.value)
    assert refused.value.reason == "Conflict"
    assert json.loads(refused.value.body)["message"] == "the object has been modified"
    assert apiserver.objects[f"{VMS}/one"]["metadata"]["finalizers"] == ["vmop"]
    await kube.close()


async def test_a_missing_object_is_gone(apiserver: FakeApiserver, clock: VirtualClock) -> None:
    kube = access(apiserver, clock)
    with pytest.raises(KubeError) as refused:
        await kube.patch_status("virtualmachines", "ns", "two", {"phase": "Pending"})
    assert is_gone(refused.value) and refused.value.status == 404
    await kube.close()


async def test_objects_are_listed_created_patched_and_deleted_by_uid(
    apiserver: FakeApiserver, clock: VirtualClock
) -> None:
    kube = access(apiserver, clock)
    await kube.create_object("virtualmachines", "ns", vm("two", uid="uid-2", app="a"))
    assert [o["metadata"]["name"] for o in await kube.list_objects("virtualmachines", "ns", "app=a")] == ["one", "two"]
    with pytest.raises(KubeError) as refused:  # another object of that name now
        await kube.delete_object("virtualmachines", "ns", "two", "uid-1")
    assert refused.value.status == 409
    await kube.delete_object("virtualmachines", "ns", "two", "uid-2")
    assert f"{VMS}/two" not in apiserver.objects
    await kube.close()


async def test_a_secret_is_decoded_and_a_review_answered(apiserver: FakeApiserver, clock: VirtualClock) -> None:
    secret = {"metadata": {"name": "c", "namespace": "ns"}, "data": {"token": base64.b64encode(b"s3cret").decode()}}
    apiserver.add("/api/v1/namespaces/ns/secrets/c", secret)
    apiserver.add("/api/v1/namespaces/ns", {"metadata": {"name": "ns", "annotations": {"a": "b"}}})
    kube = access(apiserver, clock)
    assert await kube.secret_data("ns", "c") == {"token": "s3cret"}
    assert await kube.namespace_annotations("ns") == {"a": "b"}
    assert await kube.may("get", "secrets") is True
    assert await kube.may("list", "namespaces") is False
    await kube.close()


async def test_a_429_pauses_every_request_for_its_retry_after(apiserver: FakeApiserver, clock: VirtualClock) -> None:
    apiserver.add("/api/v1/namespaces/ns", {"metadata": {"name": "ns"}})
    kube = access(apiserver, clock)

    async def overloaded(request: httpx.Request) -> httpx.Response:
        return status_response(429, "Too Many Requests", headers={"Retry-After": "7"})

    apiserver.answer = overloaded
    with pytest.raises(KubeError) as refused:
        await kube.patch_status("virtualmachines", "ns", "one", {"phase": "Pending"})
    assert (refused.value.status, refused.value.retry_after) == (429, "7")
    apiserver.answer = None
    assert await waits_for_a_token(kube, clock, 7.0)
    await kube.close()


@pytest.mark.parametrize("hangs", [False, True], ids=["httpx timeout", "no answer in time"])
async def test_a_timeout_is_an_overload(apiserver: FakeApiserver, clock: VirtualClock, hangs: bool) -> None:
    apiserver.add("/api/v1/namespaces/ns", {"metadata": {"name": "ns"}})
    kube = access(apiserver, clock, timeout=0.05)

    async def timed_out(request: httpx.Request) -> httpx.Response:
        if hangs:
            await asyncio.Event().wait()
        raise httpx.ReadTimeout("timed out", request=request)

    apiserver.answer = timed_out
    with pytest.raises(KubeError) as failed:
        await kube.patch_status("virtualmachines", "ns", "one", {"phase": "Pending"})
    assert (failed.value.status, failed.value.reason) == (None, "Timeout")
    apiserver.answer = None
    assert await waits_for_a_token(kube, clock, 1.0), "the overload backoff's first step"
    await kube.close()


async def test_a_refused_connection_is_no_overload(apiserver: FakeApiserver, clock: VirtualClock) -> None:
    apiserver.add("/api/v1/namespaces/ns", {"metadata": {"name": "ns"}})
    kube = access(apiserver, clock)

    async def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    apiserver.answer = refused
    with pytest.raises(KubeError) as failed:
        await kube.namespace_annotations("ns")
    assert (failed.value.status, failed.value.reason) == (None, "ConnectError")
    apiserver.answer = None
    assert await kube.namespace_annotations("ns") == {}, "no pause"
    await kube.close()


async def test_a_rotated_token_is_reread_once_for_the_requests_refused(
    apiserver: FakeApiserver, clock: VirtualClock
) -> None:
    credentials = Credentials()
    kube = access(apiserver, clock, credentials)
    apiserver.tokens = {"second"}  # the kubelet rotated the service account's token
    credentials.token = "second"
    both_refused = asyncio.Barrier(2)

    async def arrive(request: httpx.Request) -> None:
        if request.headers["Authorization"] == "Bearer first":
            await both_refused.wait()  # both are under way with the old token

    apiserver.arrive = arrive
    patches = [kube.patch_status("virtualmachines", "ns", "one", {"phase": p}) for p in ("Pending", "Running")]
    await asyncio.gather(*patches)
    await settle()
    assert credentials.logins == 2, "one login at start, one reread for both 401s"
    assert [r.headers["Authorization"] for r in apiserver.requests] == ["Bearer first"] * 2 + ["Bearer second"] * 2
    await kube.close()


async def test_a_revoked_identity_is_refused_after_one_reread(apiserver: FakeApiserver, clock: VirtualClock) -> None:
    credentials = Credentials()
    kube = access(apiserver, clock, credentials)
    apiserver.tokens = set()
    with pytest.raises(KubeError) as refused:
        await kube.patch_status("virtualmachines", "ns", "one", {"phase": "Pending"})
    assert refused.value.status == 401
    assert (credentials.logins, len(apiserver.requests)) == (2, 2)
    await kube.close()


async def test_credentials_that_cannot_be_reread_leave_the_401(apiserver: FakeApiserver, clock: VirtualClock) -> None:
    logins: list[str] = []

    def login() -> kopf.ConnectionInfo:
        if logins:
            raise FileNotFoundError("/var/run/secrets/kubernetes.io/serviceaccount/token")
        logins.append("first")
        return kopf.ConnectionInfo(server=SERVER, token="first")

    limiter = WriteLimiter(1000, 1000, clock=clock)
    kube = KubeAccess(login, limiter, connections=1, transport=httpx.MockTransport(apiserver))
    apiserver.tokens = set()
    with pytest.raises(KubeError) as refused:
        await kube.patch_status("virtualmachines", "ns", "one", {"phase": "Pending"})
    assert refused.value.status == 401 and len(apiserver.requests) == 1
    await kube.close()


def test_the_kubeconfig_given_is_read_and_the_environment_left_as_it_was(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "given"
    given.write_text(
        json.dumps(
            {
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "ns"}}],
                "clusters": [{"name": "k", "cluster": {"server": SERVER}}],
                "users": [{"name": "u", "user": {"token": "t0ken"}}],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "elsewhere"))
    info = login(str(given))
    assert (info.server, info.token, info.default_namespace) == (SERVER, "t0ken", "ns")
    assert os.environ["KUBECONFIG"] == str(tmp_path / "elsewhere")

"""The plugin's Kubernetes access: the kubeconfig kubectl uses, the namespace of its context, and
the few reads and writes the commands make. Nothing here talks to the platform."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from vmop.api import GROUP, VERSION
from vmop.api.crd import VIRTUAL_MACHINE, Kind

DEFAULT_NAMESPACE = "default"  # what kubectl uses when the context names none
# A watch is reopened this often (seconds) so a dropped connection is noticed.
WATCH_SECONDS = 30
NOT_FOUND = 404
GONE = 410  # the watch's resourceVersion is too old: read the object again


class NotFound(Exception):
    """The object asked for does not exist."""

    def __init__(self, kind: Kind, namespace: str, name: str) -> None:
        super().__init__(f'{kind.kind} "{name}" not found in namespace "{namespace}"')


class KubeError(Exception):
    """The apiserver refused or could not be reached; the message is the apiserver's."""


def _kube_error(error: ApiException) -> KubeError:
    return KubeError(f"{error.status} {error.reason}: {error.body or ''}".strip())


class Kube:
    """One namespace of the cluster kubectl's kubeconfig (``KUBECONFIG``, or ``kubeconfig``) points at."""

    def __init__(self, kubeconfig: str | None, context: str | None, namespace: str | None) -> None:
        try:
            api = k8s_config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
            self.namespace = namespace or _context_namespace(kubeconfig, context)
        except (k8s_config.ConfigException, OSError) as error:
            raise KubeError(f"kubeconfig: {error}") from error
        self._objects = k8s.CustomObjectsApi(api)
        self._core = k8s.CoreV1Api(api)

    def get(self, kind: Kind, name: str) -> dict[str, Any]:
        try:
            found: Any = self._objects.get_namespaced_custom_object(GROUP, VERSION, self.namespace, kind.plural, name)
        except ApiException as error:
            if error.status == NOT_FOUND:
                raise NotFound(kind, self.namespace, name) from error
            raise _kube_error(error) from error
        return dict(found)

    def patch(self, kind: Kind, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (a null value removes the key)."""
        try:
            patched: Any = self._objects.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, kind.plural, name, body
            )
        except ApiException as error:
            if error.status == NOT_FOUND:
                raise NotFound(kind, self.namespace, name) from error
            raise _kube_error(error) from error
        return dict(patched)

    def create(self, kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
        manifest = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind.kind} | body
        try:
            made: Any = self._objects.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, kind.plural, manifest
            )
        except ApiException as error:
            raise _kube_error(error) from error
        return dict(made)

    def events(self, obj: dict[str, Any], kind: Kind = VIRTUAL_MACHINE) -> list[dict[str, Any]]:
        """The object's Events (this object: its uid, not an older one of the same name), oldest first."""
        meta = obj["metadata"]
        selector = (
            f"involvedObject.kind={kind.kind},involvedObject.name={meta['name']},involvedObject.uid={meta['uid']}"
        )
        try:
            listed: Any = self._core.list_namespaced_event(self.namespace, field_selector=selector)
        except ApiException as error:
            raise _kube_error(error) from error
        events = [self._core.api_client.sanitize_for_serialization(event) for event in listed.items]
        return sorted(events, key=event_time)

    def follow(self, kind: Kind, name: str, deadline: float | None) -> Iterator[dict[str, Any]]:
        """The object now, then each new version of it, until ``deadline`` (time.monotonic());
        a deleted object raises NotFound."""
        while deadline is None or time.monotonic() < deadline:
            current = self.get(kind, name)
            yield current
            version = current["metadata"]["resourceVersion"]
            remaining = WATCH_SECONDS if deadline is None else max(1, min(WATCH_SECONDS, deadline - time.monotonic()))
            stream = k8s_watch.Watch().stream(  # type: ignore[no-untyped-call]
                self._objects.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                kind.plural,
                field_selector=f"metadata.name={name}",
                resource_version=version,
                timeout_seconds=int(remaining),
            )
            try:
                for event in stream:
                    if event["type"] == "DELETED":
                        raise NotFound(kind, self.namespace, name)
                    if event["type"] in ("ADDED", "MODIFIED"):
                        yield event["object"]
            except ApiException as error:
                if error.status != GONE:
                    raise _kube_error(error) from error


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the kubeconfig's current (or named) context, as kubectl picks it."""
    contexts, current = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    if context and chosen is None:
        raise k8s_config.ConfigException(f"context {context!r} not found")
    namespace: str = ((chosen or {}).get("context") or {}).get("namespace") or DEFAULT_NAMESPACE
    return namespace


def event_time(event: dict[str, Any]) -> str:
    """When the event last happened (RFC 3339; the newest of the fields an Event may carry)."""
    series = event.get("series") or {}
    stamps = [series.get("lastObservedTime"), event.get("lastTimestamp"), event.get("eventTime")]
    stamps += [event.get("firstTimestamp"), (event.get("metadata") or {}).get("creationTimestamp")]
    return max((str(s) for s in stamps if s), default="")

"""A cheap look at a platform: does it answer, does it take the credentials, which clusters and
tenants does it have. One read (group/tree without cluster or tenant), which changes nothing.

The doc is silent on authentication: it names no scheme and no answer to bad credentials. vmop
reads an HTTP 401 or 403 as "credentials refused" (the simulator answers so, as HTTP APIs do); any
other refusal means the platform answered and took them.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmop.compute.client import ComputeClient
from vmop.compute.errors import ComputeError
from vmop.compute.models import GroupTree
from vmop.compute.requests import GroupTreeQuery

CREDENTIALS_REFUSED = frozenset({401, 403})


@dataclass(frozen=True)
class Reach:
    reachable: bool
    authenticated: bool | None  # None: unknown (no answer)
    clusters: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    error: ComputeError | None = None


def scopes_of(tree: GroupTree) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The doc: group/tree without cluster and tenant is "cluster -> tenant -> namespace -> groups",
    the levels above the groups as ``fake`` nodes: the top nodes are clusters, their children tenants."""
    clusters = sorted({node.uuid for node in tree.nodes if node.uuid})
    tenants = sorted({child.uuid for node in tree.nodes for child in node.children if child.uuid})
    return tuple(clusters), tuple(tenants)


async def reach(client: ComputeClient) -> Reach:
    try:
        tree = await client.group_tree(GroupTreeQuery())
    except ComputeError as error:
        if error.scode is None:  # no answer at all
            return Reach(reachable=False, authenticated=None, error=error)
        return Reach(reachable=True, authenticated=error.http_status not in CREDENTIALS_REFUSED, error=error)
    clusters, tenants = scopes_of(tree)
    return Reach(reachable=True, authenticated=True, clusters=clusters, tenants=tenants)

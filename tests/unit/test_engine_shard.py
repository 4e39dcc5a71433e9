"""Which shard handles a key (engine/shard.py): stable, spread, and one owner per key."""

from __future__ import annotations

import zlib
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmop.engine.shard import Shard, shard_of

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=30)


@given(namespace=names, name=names, shards=st.integers(min_value=1, max_value=16))
def test_exactly_one_shard_owns_each_key(namespace: str, name: str, shards: int) -> None:
    owners = [index for index in range(shards) if Shard(shards, index).owns((namespace, name))]
    assert owners == [shard_of((namespace, name), shards)]


def test_the_shard_of_a_key_is_the_same_in_every_process() -> None:
    """crc32, not Python's hash (salted per process): two processes must agree."""
    assert shard_of(("team-a", "web-1"), 3) == zlib.crc32(b"team-a/web-1") % 3


def test_keys_spread_over_the_shards() -> None:
    counts = Counter(shard_of(("ns", f"vm-{i}"), 3) for i in range(3000))
    assert min(counts.values()) > 900, counts


def test_a_shard_index_outside_the_count_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not within 0\.\.2"):
        Shard(3, 3)

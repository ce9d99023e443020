import collections

import pytest

from fetchpool._ring import Ring, ring_point
from conftest import read_vectors

VECTORS = read_vectors("ring.tsv")


def test_vectors_file_is_read():
    assert len(VECTORS) >= 60


@pytest.mark.parametrize("members,key,picked", VECTORS)
def test_ring_matches_vectors(members, key, picked):
    assert Ring(members.split(",")).pick(key) == picked


def test_member_order_does_not_matter():
    a = Ring(["127.0.0.2:1", "127.0.0.3:1", "[::1]:1"])
    b = Ring(["[::1]:1", "127.0.0.3:1", "127.0.0.2:1"])
    keys = [f"http://origin-{i}.example:80" for i in range(200)]
    assert [a.pick(k) for k in keys] == [b.pick(k) for k in keys]


def test_removing_a_member_moves_only_its_keys():
    members = [f"127.0.0.{i}:50051" for i in range(2, 6)]
    full, smaller = Ring(members), Ring(members[:-1])
    keys = [f"http://origin-{i}.example:80" for i in range(1000)]
    moved = [k for k in keys if full.pick(k) != smaller.pick(k)]
    assert all(full.pick(k) == members[-1] for k in moved)
    share = collections.Counter(full.pick(k) for k in keys)
    assert min(share.values()) > 150  # roughly even: 250 each


def test_point_is_first_eight_bytes_big_endian():
    # SHA-256("") = e3b0c44298fc1c14...
    assert ring_point("") == 0xE3B0C44298FC1C14


def test_empty_ring_picks_nothing():
    assert Ring([]).pick("http://a:80") is None


def test_avoided_member_passes_its_keys_to_the_next_on_the_ring():
    members = ["127.0.0.2:50051", "127.0.0.3:50051", "127.0.0.4:50051"]
    ring = Ring(members)
    keys = [f"http://origin-{i}.example:80" for i in range(300)]
    down = "127.0.0.3:50051"
    for key in keys:
        picked = ring.pick(key, {down})
        assert picked != down
        if ring.pick(key) != down:
            assert picked == ring.pick(key)  # only the down member's keys move
    assert ring.pick(keys[0], set(members)) == ring.pick(keys[0])  # all down: the plain pick

"""The affinity router: targets, members, resolving again, picks."""
import time

import grpc
import pytest

import fetchpool
from fetchpool._channel import Router, Settings, parse_target
from fetchpool._ring import Ring


@pytest.mark.parametrize("target,parsed", [
    ("127.0.0.1:50051", ("127.0.0.1", 50051, [])),
    ("fetchpoold:50051", ("fetchpoold", 50051, [])),
    ("dns:///fetchpoold-headless.egress.svc:50051", ("fetchpoold-headless.egress.svc", 50051, [])),
    ("dns://8.8.8.8/fp:7", ("fp", 7, [])),
    ("[::1]:9", ("::1", 9, [])),
    ("ipv4:127.0.0.2:1,127.0.0.3:2", (None, 0, ["127.0.0.2:1", "127.0.0.3:2"])),
    ("ipv6:[::1]:3", (None, 0, ["[::1]:3"])),
    ("unix:/run/fetchpool.sock", None),
])
def test_parse_target(target, parsed):
    assert parse_target(target) == parsed


class FakeResolver:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host, port):
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_router(resolver, clock):
    opened = []
    router = Router(Settings("fp:50051", affinity="host"), lambda t, o: opened.append(t) or t,
                    resolve=resolver, clock=clock)
    return router, opened


def wait_for(condition):
    give_up = time.monotonic() + 5
    while not condition() and time.monotonic() < give_up:
        time.sleep(0.01)
    assert condition()


def test_picks_follow_the_ring_and_channels_are_per_member():
    members = ["10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.3:50051"]
    router, opened = make_router(FakeResolver(members), lambda: 0.0)
    ring = Ring(members)
    for i in range(20):
        key = f"http://origin-{i}.example:80"
        assert router.channel_for(key) == "ipv4:" + ring.pick(key)
    assert sorted(opened) == sorted("ipv4:" + m for m in members)


def test_resolves_again_after_30_seconds_and_keeps_members_on_failure():
    now = [0.0]
    resolver = FakeResolver(["10.0.0.1:1"], ["10.0.0.1:1", "10.0.0.2:1"], OSError("no dns"))
    router, _ = make_router(resolver, lambda: now[0])
    assert router.members == ["10.0.0.1:1"]
    now[0] = 29.0
    router.channel_for("http://a:80")
    assert resolver.calls == 1
    now[0] = 31.0
    router.channel_for("http://a:80")
    wait_for(lambda: router.members == ["10.0.0.1:1", "10.0.0.2:1"])
    now[0] = 62.0
    router.channel_for("http://a:80")
    wait_for(lambda: resolver.calls == 3)
    time.sleep(0.05)
    assert router.members == ["10.0.0.1:1", "10.0.0.2:1"]  # a failed lookup changes nothing


def test_unavailable_resolves_again_at_once():
    resolver = FakeResolver(["10.0.0.1:1"], ["10.0.0.2:1"])
    router, _ = make_router(resolver, lambda: 0.0)
    router.on_unavailable()
    wait_for(lambda: router.members == ["10.0.0.2:1"])


def test_no_address_is_a_retryable_unavailable():
    resolver = FakeResolver(OSError("no dns"))
    router, _ = make_router(resolver, lambda: 0.0)
    with pytest.raises(fetchpool.FetchpoolError) as failure:
        router.channel_for("http://a:80")
    assert (failure.value.code, failure.value.reason) == (grpc.StatusCode.UNAVAILABLE, "")


def test_requests_without_a_key_spread_over_members():
    router, _ = make_router(FakeResolver(["10.0.0.1:1", "10.0.0.2:1"]), lambda: 0.0)
    assert {router.channel_for(None) for _ in range(4)} == {"ipv4:10.0.0.1:1", "ipv4:10.0.0.2:1"}


def test_without_affinity_one_round_robin_channel():
    options = []
    router = Router(Settings("fp:50051"), lambda t, o: options.append(o) or t)
    assert router.channel_for("http://a:80") == router.channel_for("http://b:80") == "fp:50051"
    assert options == [[("grpc.service_config", '{"loadBalancingConfig": [{"round_robin": {}}]}')]]


def test_tls_member_channels_check_the_target_name():
    options = []
    Router(Settings("fetchpoold:50051", ca_file=__file__, affinity="host"), lambda t, o: options.append(o) or t,
           resolve=lambda h, p: ["10.0.0.1:50051"]).channel_for("http://a:80")
    assert ("grpc.ssl_target_name_override", "fetchpoold") in options[0]


def test_bad_affinity_is_refused():
    with pytest.raises(ValueError):
        Settings("fp:1", affinity="ring")


def test_a_broken_replica_is_passed_over_for_a_while():
    now = [0.0]
    members = ["10.0.0.1:1", "10.0.0.2:1"]
    router, _ = make_router(FakeResolver(members), lambda: now[0])
    ring = Ring(members)
    key = "http://origin-1.example:80"
    owner = ring.pick(key)
    router.on_unavailable(owner)
    assert router.member_for(key) != owner
    assert all(router.member_for(None) != owner for _ in range(4))
    now[0] = 6.0  # DOWN_SECONDS later
    assert router.member_for(key) == owner


def test_stats_asks_every_replica_with_affinity():
    router, _ = make_router(FakeResolver(["10.0.0.1:1", "10.0.0.2:1"]), lambda: 0.0)
    assert router.every_member() == ["10.0.0.1:1", "10.0.0.2:1"]
    assert Router(Settings("fp:1"), lambda t, o: t).every_member() == [None]


def test_merge_stats_adds_totals():
    from fetchpool._core import merge_stats
    from fetchpool.v1 import fetchpool_pb2 as pb
    a = pb.StatsResponse(pool_count=1, pools=[pb.HostPoolStats(host="http://a:80")],
                         totals=pb.HostPoolStats(requests_total=3, busy_connections=1))
    b = pb.StatsResponse(pool_count=2, pools=[pb.HostPoolStats(host="http://b:80"), pb.HostPoolStats(host="http://c:80")],
                         totals=pb.HostPoolStats(requests_total=4, connections_opened_total=2))
    merged = merge_stats([a, b])
    assert [p.host for p in merged.pools] == ["http://a:80", "http://b:80", "http://c:80"]
    assert (merged.pool_count, merged.totals.requests_total, merged.totals.busy_connections,
            merged.totals.connections_opened_total) == (3, 7, 1, 2)

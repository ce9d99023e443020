"""Against the live fetchpoold and test origin that test.sh started."""
import asyncio
import os

import grpc
import pytest

import fetchpool
import fetchpool.aio


@pytest.fixture(scope="module")
def client(live):
    with fetchpool.Client(live[0]) as c:
        yield c


def test_get_and_pool_key(client, live):
    url = live[1].replace("127.0.0.1", "127.1").upper().replace("HTTP", "http") + "/status/200"
    response = client.get(url)
    assert response.status == 200
    assert response.pool == fetchpool.pool_key(url) == live[1] and response.pool


def test_post_with_body(client, live):
    response = client.fetch(method="POST", url=live[1] + "/echo", body="hello")
    assert (response.status, response.body) == (200, b"hello")


def test_upstream_404_is_a_response(client, live):
    assert client.get(live[1] + "/status/404").status == 404


def test_denied_destination(client):
    with pytest.raises(fetchpool.FetchpoolError) as failure:
        client.get("http://169.254.169.254/latest/meta-data/")
    assert failure.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert failure.value.reason == "DESTINATION_DENIED"
    assert "169.254.169.254" in failure.value.message


def test_invalid_url_has_a_reason(client):
    with pytest.raises(fetchpool.FetchpoolError) as failure:
        client.get("ftp://example.com/")
    assert failure.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.reason == "UNSUPPORTED_SCHEME"


def test_per_call_timeout(client, live):
    with pytest.raises(fetchpool.FetchpoolError) as failure:
        client.get(live[1] + "/sleep?ms=2000", timeout=0.3)
    assert failure.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_stats_and_watch_stats(client, live):
    client.get(live[1] + "/status/200")
    pools = {pool.host for pool in client.stats().pools}
    assert live[1] in pools
    assert [p.host for p in client.stats(host=live[1]).pools] == [live[1]]
    with client.watch_stats(interval=0.1) as watch:
        first, second = next(watch), next(watch)
    assert first.pool_count >= 1 and second.pool_count >= 1
    assert list(watch) == []  # closed: the iterator ends


def test_stream_of_100(client, live):
    with client.open_stream(max_in_flight=16) as stream:
        futures = [stream.submit(method="POST", url=live[1] + "/echo", body=f"n{i}") for i in range(100)]
        bodies = [f.result(30).body for f in futures]
    assert bodies == [f"n{i}".encode() for i in range(100)]


def test_stream_failure_is_an_error(client):
    with client.open_stream() as stream:
        future = stream.submit(url="http://169.254.169.254/")
        with pytest.raises(fetchpool.FetchpoolError) as failure:
            future.result(30)
    assert failure.value.reason == "DESTINATION_DENIED"


def test_aio_client(live):
    async def scenario():
        async with fetchpool.aio.Client(live[0]) as client:
            responses = await asyncio.gather(*(client.get(live[1] + f"/status/{s}") for s in (200, 404, 503)))
            assert [r.status for r in responses] == [200, 404, 503]
            with pytest.raises(fetchpool.FetchpoolError) as failure:
                await client.get("http://169.254.169.254/")
            assert failure.value.reason == "DESTINATION_DENIED"
            assert any(p.host == live[1] for p in (await client.stats()).pools)
            watch = client.watch_stats(interval=0.1)
            async for snapshot in watch:
                assert snapshot.pool_count >= 1
                break
            await watch.aclose()
            async with client.open_stream(max_in_flight=8) as stream:
                futures = [await stream.submit(method="POST", url=live[1] + "/echo", body=f"n{i}")
                           for i in range(100)]
                bodies = [r.body for r in await asyncio.gather(*futures)]
            assert bodies == [f"n{i}".encode() for i in range(100)]
    asyncio.run(scenario())


def tls_env(*names):
    values = [os.environ.get(name) for name in names]
    if not all(values):
        pytest.skip(f"{', '.join(names)} not set (test.sh starts TLS fetchpoolds)")
    return values


def test_tls_with_token(live):
    target, ca, token = tls_env("FETCHPOOL_TLS_TARGET", "FETCHPOOL_CA_FILE", "FETCHPOOL_TOKEN")
    with fetchpool.Client(target, ca_file=ca, token=token) as client:
        assert client.get(live[1] + "/status/200").status == 200
    with fetchpool.Client(target, ca_file=ca, token="wrong-token-wrong-token") as client:
        with pytest.raises(fetchpool.FetchpoolError) as failure:
            client.get(live[1] + "/status/200")
    assert (failure.value.code, failure.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


def test_tls_server_name_override(live):
    target, ca, token = tls_env("FETCHPOOL_TLS_TARGET", "FETCHPOOL_CA_FILE", "FETCHPOOL_TOKEN")
    with fetchpool.Client(target, ca_file=ca, token=token, server_name_override="localhost") as client:
        assert client.get(live[1] + "/status/200").status == 200
    with fetchpool.Client(target, ca_file=ca, token=token, server_name_override="elsewhere.example") as client:
        with pytest.raises(fetchpool.FetchpoolError) as failure:
            client.get(live[1] + "/status/200", timeout=3)
    # the handshake fails (UNAVAILABLE, retried: a GET) until the deadline
    assert failure.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_mtls(live):
    target, ca, cert, key = tls_env("FETCHPOOL_MTLS_TARGET", "FETCHPOOL_CA_FILE", "FETCHPOOL_CLIENT_CERT",
                                    "FETCHPOOL_CLIENT_KEY")
    with fetchpool.Client(target, ca_file=ca, client_cert_file=cert, client_key_file=key) as client:
        assert client.get(live[1] + "/status/200").status == 200
    with fetchpool.Client(target, ca_file=ca) as client:
        with pytest.raises(fetchpool.FetchpoolError):
            client.get(live[1] + "/status/200", timeout=3)


@pytest.mark.parametrize("form", ["host:port", "ipv4:"])
def test_tls_with_affinity(live, form):
    target, ca, token = tls_env("FETCHPOOL_TLS_TARGET", "FETCHPOOL_CA_FILE", "FETCHPOOL_TOKEN")
    target = target if form == "host:port" else "ipv4:" + target
    with fetchpool.Client(target, ca_file=ca, token=token, affinity="host") as client:
        assert client.replicas == [os.environ["FETCHPOOL_TLS_TARGET"]]
        assert client.get(live[1] + "/status/200").status == 200

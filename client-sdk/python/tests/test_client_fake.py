"""The client's own behaviour against a scripted in-process server."""
import asyncio
import threading
import time

import grpc
import pytest

import fetchpool
import fetchpool.aio
from fake_server import FakeServer

U = grpc.StatusCode.UNAVAILABLE
URL = "http://Example.COM/x"


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.stop()


def test_get_retried_on_transport_unavailable(fake):
    fake.servicer.script = [(U, ""), (U, "")]
    with fetchpool.Client(fake.target) as client:
        assert client.get(URL).status == 200
    assert fake.servicer.calls == 3


def test_post_not_retried_without_reason(fake):
    fake.servicer.script = [(U, "")]
    with fetchpool.Client(fake.target) as client, pytest.raises(fetchpool.FetchpoolError) as failure:
        client.fetch(URL, method="POST", body="x")
    assert (failure.value.code, failure.value.reason) == (U, "")
    assert fake.servicer.calls == 1


def test_idempotent_post_retried(fake):
    fake.servicer.script = [(U, "")]
    with fetchpool.Client(fake.target) as client:
        assert client.fetch(URL, method="POST", idempotent=True).status == 200
    assert fake.servicer.calls == 2


@pytest.mark.parametrize("code,reason", [(U, "SHUTTING_DOWN"), (grpc.StatusCode.RESOURCE_EXHAUSTED, "QUEUE_FULL")])
def test_post_retried_on_reasons_before_the_exchange(fake, code, reason):
    fake.servicer.script = [(code, reason)]
    with fetchpool.Client(fake.target) as client:
        assert client.fetch(URL, method="POST").status == 200
    assert fake.servicer.calls == 2


def test_other_reasons_are_raised_with_code_reason_message(fake):
    fake.servicer.script = [(U, "CONNECTION_RESET")]
    with fetchpool.Client(fake.target) as client, pytest.raises(fetchpool.FetchpoolError) as failure:
        client.get(URL)
    assert failure.value.code == U
    assert failure.value.reason == "CONNECTION_RESET"
    assert "scripted failure" in failure.value.message
    assert fake.servicer.calls == 1


def test_at_most_five_attempts(fake):
    fake.servicer.script = [(U, "SHUTTING_DOWN")] * 9
    with fetchpool.Client(fake.target) as client, pytest.raises(fetchpool.FetchpoolError):
        client.get(URL)
    assert fake.servicer.calls == 5


def test_retries_stay_inside_the_deadline(fake):
    fake.servicer.script = [(U, "")] * 9
    started = time.monotonic()
    with fetchpool.Client(fake.target) as client, pytest.raises(fetchpool.FetchpoolError) as failure:
        client.get(URL, timeout=0.5)
    assert time.monotonic() - started < 1.0  # 0.5 s and some slack for a busy machine
    # the last attempt may start with little time left and end by the deadline
    assert failure.value.code in (U, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert 2 <= fake.servicer.calls <= 3  # 125-250 ms, then 250-500 ms only if it ends in time


def test_budget_stops_retries_of_a_failing_fleet(fake):
    fake.servicer.script = [(U, "")] * 100
    with fetchpool.Client(fake.target) as client:
        for _ in range(3):
            with pytest.raises(fetchpool.FetchpoolError):
                client.get(URL)
    # 10 tokens: 4 retries pass (10->6), the 5th failure leaves 5; then none.
    assert fake.servicer.calls == 5 + 1 + 1


def test_metadata_pool_key_and_token(fake):
    with fetchpool.Client(fake.target, token="t0k", allow_token_over_plaintext=True) as client:
        client.get(URL)
        client.get("not a url")
    first, second = fake.servicer.metadata
    assert first["fetchpool-pool-key"] == "http://example.com:80"
    assert first["authorization"] == "Bearer t0k"
    assert "fetchpool-pool-key" not in second


def test_token_over_plaintext_is_refused():
    with pytest.raises(ValueError):
        fetchpool.Client("127.0.0.1:1", token="t0k")


def test_request_from_keywords(fake):
    with fetchpool.Client(fake.target) as client:
        response = client.fetch(url=URL, method="POST", body="hi", headers={"a": "b"}, wait_timeout=0.2)
    assert response.body == b"hi"


def test_stream_matches_ids_and_reports_errors(fake):
    with fetchpool.Client(fake.target) as client:
        stream = client.open_stream()
        futures = [stream.submit(url=URL, method="POST", body=f"n{i}") for i in range(50)]
        failed = stream.submit(url="http://a/fail")
        assert [f.result(5).body for f in futures] == [f"n{i}".encode() for i in range(50)]
        with pytest.raises(fetchpool.FetchpoolError) as failure:
            failed.result(5)
        assert failure.value.reason == "WAIT_TIMEOUT"
        assert failure.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        stream.close()


def test_stream_back_pressure(fake):
    with fetchpool.Client(fake.target) as client:
        stream = client.open_stream(max_in_flight=2)
        held = [stream.submit(url="http://a/hold") for _ in range(2)]
        third = []
        submitter = threading.Thread(target=lambda: third.append(stream.submit(url="http://a/hold")))
        submitter.start()
        submitter.join(0.3)
        assert submitter.is_alive() and not third  # blocked: two unanswered
        fake.servicer.release.set()  # the held two are answered: the third goes
        submitter.join(5)
        assert all(f.result(5).status == 200 for f in held)
        assert third[0].result(5).status == 200
        stream.close()


def test_broken_stream_fails_unanswered_and_reopens(fake):
    with fetchpool.Client(fake.target) as client:
        stream = client.open_stream()
        held = stream.submit(url="http://a/hold")
        stream.submit(url="http://a/break")
        with pytest.raises(fetchpool.FetchpoolError) as failure:
            held.result(5)
        assert failure.value.code == U
        time.sleep(0.1)
        assert stream.submit(url=URL).result(5).status == 200  # a new stream
        stream.close()


def test_stats_and_watch(fake):
    with fetchpool.Client(fake.target) as client:
        assert client.stats(host="http://h:80").pools[0].host == "http://h:80"


def test_aio_retries_and_cancel(fake):
    async def scenario():
        async with fetchpool.aio.Client(fake.target) as client:
            fake.servicer.script = [(U, "")]
            assert (await client.get(URL)).status == 200
            fake.servicer.script = [(U, "")]
            with pytest.raises(fetchpool.FetchpoolError):
                await client.fetch(URL, method="POST")
            fake.servicer.script = [(U, "")] * 9
            task = asyncio.ensure_future(client.get(URL))
            await asyncio.sleep(0.05)  # in the backoff before retry 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            calls = fake.servicer.calls
            await asyncio.sleep(0.4)
            assert fake.servicer.calls == calls  # the retry never started
            fake.servicer.script = []
            stream = client.open_stream(max_in_flight=4)
            futures = [await stream.submit(url=URL, body=f"n{i}", method="POST") for i in range(20)]
            bodies = [r.body for r in await asyncio.gather(*futures)]
            assert bodies == [f"n{i}".encode() for i in range(20)]
            await stream.close()
    asyncio.run(scenario())


def test_aio_stream_back_pressure_and_breakage(fake):
    async def scenario():
        async with fetchpool.aio.Client(fake.target) as client:
            stream = client.open_stream(max_in_flight=2)
            held = [await stream.submit(url="http://a/hold") for _ in range(2)]
            third = asyncio.ensure_future(stream.submit(url="http://a/hold"))
            await asyncio.sleep(0.3)
            assert not third.done()  # waits to send: two unanswered
            fake.servicer.release.set()
            assert [r.status for r in await asyncio.gather(*held)] == [200, 200]
            assert (await asyncio.wait_for(await third, 5)).status == 200
            fake.servicer.release.clear()
            waiting = await stream.submit(url="http://a/hold")
            await stream.submit(url="http://a/break")
            with pytest.raises(fetchpool.FetchpoolError) as failure:
                await asyncio.wait_for(waiting, 5)
            assert failure.value.code == U
            assert (await (await stream.submit(url=URL))).status == 200  # a new stream
            failed = await stream.submit(url="http://a/fail")
            with pytest.raises(fetchpool.FetchpoolError) as failure:
                await failed
            assert failure.value.reason == "WAIT_TIMEOUT"
            await stream.close()
    asyncio.run(scenario())


def test_sync_cancel_stops_a_retry_waiting_to_start(fake):
    fake.servicer.script = [(U, "")] * 9
    with fetchpool.Client(fake.target) as client:
        future = client.fetch_future(URL)
        time.sleep(0.05)  # the first attempt failed; the retry waits 125-250 ms
        assert future.cancel()
        assert future.cancelled()
        time.sleep(0.4)
    assert fake.servicer.calls == 1


def test_sync_cancel_cancels_the_call_in_flight(fake):
    with fetchpool.Client(fake.target) as client:
        future = client.fetch_future("http://a/slow")
        time.sleep(0.2)
        started = time.monotonic()
        assert future.cancel()
        with pytest.raises(Exception):
            future.result(1)
        assert time.monotonic() - started < 1.0  # not the 5 s the fake would wait
        fake.servicer.release.set()
        assert client.fetch_future(URL).result(5).status == 200


def test_error_pickles_with_its_fields():
    import pickle
    error = pickle.loads(pickle.dumps(fetchpool.FetchpoolError(U, "QUEUE_FULL", "full")))
    assert (error.code, error.reason, error.message) == (U, "QUEUE_FULL", "full")

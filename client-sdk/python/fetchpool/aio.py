"""The asyncio client: fetchpool.aio.Client, the twin of fetchpool.Client.

Create it inside the running event loop. Cancelling a task cancels the call
in flight and any retry waiting to start."""
import asyncio
import itertools
import time
from typing import Any, Dict, Optional

import grpc
import grpc.aio

from ._core import ClientCore, merge_stats, request_key
from ._errors import FetchpoolError, from_fetch_error, from_rpc_error
from ._pool_key import pool_key
from ._request import build_request, to_duration
from ._retry import is_replay_safe
from ._stream import FetchStreamClosed, id_prefix, report_broken
from .v1 import fetchpool_pb2 as pb

__all__ = ["Client", "FetchStream", "StatsWatch"]


class Client(ClientCore):
    """Same options and methods as fetchpool.Client, as coroutines."""

    def _open_channel(self, target, credentials, options):
        if credentials is None:
            return grpc.aio.insecure_channel(target, options=options)
        return grpc.aio.secure_channel(target, credentials, options=options)

    async def get(self, url: str, timeout: Optional[float] = None, **fields: Any) -> pb.FetchResponse:
        return await self.fetch(url, timeout=timeout, **fields)

    async def fetch(self, request: Any = None, timeout: Optional[float] = None, **fields: Any) -> pb.FetchResponse:
        message = build_request(request, **fields)
        key = request_key(message)
        metadata = self._fetch_metadata(key)
        replay_safe = is_replay_safe(message.method, message.idempotent)
        return await self._call(lambda stub, left: stub.Fetch(message, timeout=left, metadata=metadata),
                                lambda: self._router.member_for(key), replay_safe, self._deadline(timeout))

    async def stats(self, host: str = "", timeout: Optional[float] = None) -> pb.StatsResponse:
        request = pb.StatsRequest(host=host)
        metadata = self._plain_metadata()
        deadline = self._deadline(timeout)
        responses = await asyncio.gather(*(
            self._call(lambda stub, left: stub.Stats(request, timeout=left, metadata=metadata),
                       (lambda m=member: m), True, deadline)
            for member in self._router.every_member()))
        return merge_stats(responses)

    def watch_stats(self, interval: float = 1.0, host: str = "") -> "StatsWatch":
        """An async iterator of StatsResponse; aclose() ends the call."""
        request = pb.WatchStatsRequest(interval=to_duration(interval), host=host)
        endpoint = self._router.channel_for(host or None)
        return StatsWatch(endpoint.stub.WatchStats(request, metadata=self._plain_metadata()))

    def open_stream(self, max_in_flight: int = 256) -> "FetchStream":
        return FetchStream(self, max_in_flight)

    async def close(self) -> None:
        for endpoint in self._router.all_channels():
            await endpoint.channel.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def _call(self, send, pick_member, replay_safe: bool, deadline: float):
        attempts = 0
        while True:
            attempts += 1
            member = None
            try:
                member = pick_member()
                stub = self._router.member_channel(member).stub
                response = await send(stub, max(0.0, deadline - time.monotonic()))
            except grpc.RpcError as rpc_error:
                error = from_rpc_error(rpc_error)
            except FetchpoolError as no_replica:
                error = no_replica
            else:
                self._on_success()
                return response
            delay = self._after_failure(error, replay_safe, attempts, deadline, member)
            if delay is None:
                raise error
            await asyncio.sleep(delay)


class StatsWatch:
    def __init__(self, call):
        self._call = call
        self._closed = False

    def __aiter__(self):
        return self

    async def __anext__(self) -> pb.StatsResponse:
        if self._closed:
            raise StopAsyncIteration
        try:
            response = await self._call.read()
        except asyncio.CancelledError:
            if self._closed:
                raise StopAsyncIteration from None
            raise
        except grpc.RpcError as rpc_error:
            if self._closed and rpc_error.code() == grpc.StatusCode.CANCELLED:
                raise StopAsyncIteration from None
            raise from_rpc_error(rpc_error) from None
        if response is grpc.aio.EOF:
            raise StopAsyncIteration
        return response

    async def aclose(self) -> None:
        self._closed = True
        self._call.cancel()

    async def __aenter__(self) -> "StatsWatch":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()


class FetchStream:
    """submit() waits while max_in_flight fetches are unanswered, sends, and
    returns an asyncio.Future of the FetchResponse (or FetchpoolError)."""

    def __init__(self, client: Client, max_in_flight: int = 256):
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._client = client
        self._slots = asyncio.Semaphore(max_in_flight)
        self._streams: Dict[Optional[str], _OneStream] = {}
        self._prefix = id_prefix()
        self._ids = itertools.count()
        self._closed = False

    async def submit(self, request: Any = None, **fields: Any) -> "asyncio.Future[pb.FetchResponse]":
        message = build_request(request, **fields)
        if not message.id:
            message.id = self._prefix + str(next(self._ids))
        key = pool_key(message.url)
        member = self._client._router.member_for(key)
        await self._slots.acquire()
        try:
            if self._closed:
                raise FetchStreamClosed("submit() after close()")
            stream = self._streams.get(member)
            if stream is None or stream.broken:
                endpoint = self._client._router.member_channel(member)
                stream = _OneStream(endpoint.stub, self._client._fetch_metadata(key), self._slots.release,
                                    lambda error: report_broken(self._client._router, member, error))
                self._streams[member] = stream
            return await stream.send(message)
        except BaseException:
            self._slots.release()
            raise

    async def close(self) -> None:
        self._closed = True
        for stream in list(self._streams.values()):
            await stream.close()

    async def __aenter__(self) -> "FetchStream":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()


class _OneStream:
    def __init__(self, stub, metadata, release_slot, on_broken):
        self._call = stub.FetchStream(metadata=metadata)
        self._pending: Dict[str, asyncio.Future] = {}
        self._write_lock = asyncio.Lock()
        self._release_slot = release_slot
        self._on_broken = on_broken
        self.broken = False
        self._reader = asyncio.ensure_future(self._read())

    async def send(self, message: pb.FetchRequest) -> asyncio.Future:
        if self.broken:
            raise FetchpoolError(grpc.StatusCode.UNAVAILABLE, "", "the fetch stream broke; submit again")
        if message.id in self._pending:
            raise ValueError(f"id {message.id!r} is already in flight on this stream")
        future = asyncio.get_running_loop().create_future()
        self._pending[message.id] = future
        try:
            async with self._write_lock:
                await self._call.write(message)
        except (grpc.RpcError, asyncio.InvalidStateError):
            pass  # the stream broke: the reader fails this future with its status
        return future

    async def close(self) -> None:
        if not self.broken:
            try:
                async with self._write_lock:
                    await self._call.done_writing()
            except (grpc.RpcError, asyncio.InvalidStateError):
                pass
        await self._reader

    async def _read(self) -> None:
        error = FetchpoolError(grpc.StatusCode.UNKNOWN, "", "the stream ended with fetches unanswered")
        try:
            while True:
                response = await self._call.read()
                if response is grpc.aio.EOF:
                    break
                future = self._pending.pop(response.id, None)
                if future is None:
                    continue
                self._release_slot()
                if future.done():
                    continue
                if response.HasField("error"):
                    future.set_exception(from_fetch_error(response.error))
                else:
                    future.set_result(response)
        except grpc.RpcError as rpc_error:
            error = from_rpc_error(rpc_error)
        except asyncio.CancelledError:
            error = FetchpoolError(grpc.StatusCode.CANCELLED, "", "the fetch stream was cancelled")
        self.broken = True
        unanswered, self._pending = self._pending, {}
        self._on_broken(error)
        for future in unanswered.values():
            self._release_slot()
            if not future.done():
                future.set_exception(error)

"""The FetchStream wrapper of the sync client: submit() returns a Future
matched by id, with back-pressure; one stream per replica with affinity."""
import itertools
import os
import queue
import threading
from concurrent.futures import Future
from typing import Any, Dict, Optional

import grpc

from ._errors import FetchpoolError, from_fetch_error, from_rpc_error
from ._pool_key import pool_key
from ._request import build_request
from .v1 import fetchpool_pb2 as pb

_ENDED = object()


def id_prefix() -> str:
    return f"fp-{os.getpid()}-{os.urandom(3).hex()}-"


def report_broken(router, member, error) -> None:
    """A stream to `member` broke in the transport: pass the replica over."""
    if error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "":
        router.on_unavailable(member)


class FetchStreamClosed(RuntimeError):
    pass


class FetchStream:
    """Many fetches over FetchStream calls. Not retried: each answer comes
    back as it is. While `max_in_flight` fetches are unanswered, submit()
    blocks. If a stream breaks, its unanswered futures fail with its status
    and the next submit opens a new one. close() half-closes and waits."""

    def __init__(self, client, max_in_flight: int = 256):
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._client = client
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self._streams: Dict[Optional[str], _OneStream] = {}
        self._prefix = id_prefix()
        self._ids = itertools.count()
        self._closed = False

    def submit(self, request: Any = None, **fields: Any) -> "Future[pb.FetchResponse]":
        """Sends one fetch; the Future gives its FetchResponse or raises
        FetchpoolError. Blocks while max_in_flight fetches are unanswered."""
        message = build_request(request, **fields)
        if not message.id:
            message.id = self._prefix + str(next(self._ids))
        key = pool_key(message.url)
        member = self._client._router.member_for(key)
        self._slots.acquire()
        try:
            for _ in range(2):
                stream = self._stream_for(member, key)
                try:
                    return stream.send(message)
                except _Broken:
                    continue
            raise FetchpoolError(grpc.StatusCode.UNAVAILABLE, "", "the fetch stream broke while opening")
        except BaseException:
            self._slots.release()
            raise

    def _stream_for(self, member: Optional[str], key: Optional[str]) -> "_OneStream":
        with self._lock:
            if self._closed:
                raise FetchStreamClosed("submit() after close()")
            stream = self._streams.get(member)
            if stream is None or stream.broken:
                endpoint = self._client._router.member_channel(member)
                stream = _OneStream(endpoint.stub, self._client._fetch_metadata(key), self._slots.release,
                                    lambda error: report_broken(self._client._router, member, error))
                self._streams[member] = stream
            return stream

    def close(self) -> None:
        """Half-closes every stream and waits for the outstanding answers."""
        with self._lock:
            self._closed = True
            streams = list(self._streams.values())
        for stream in streams:
            stream.half_close()
        for stream in streams:
            stream.wait()

    def __enter__(self) -> "FetchStream":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _Broken(Exception):
    pass


class _OneStream:
    """One FetchStream call: a queue feeds its requests, a thread reads its
    answers and settles the futures."""

    def __init__(self, stub, metadata, release_slot, on_broken):
        self._queue: "queue.Queue" = queue.Queue()
        self._pending: Dict[str, Future] = {}
        self._lock = threading.Lock()
        self._release_slot = release_slot
        self._on_broken = on_broken
        self.broken = False
        self._responses = stub.FetchStream(self._requests(), metadata=metadata)
        self._reader = threading.Thread(target=self._read, name="fetchpool-stream", daemon=True)
        self._reader.start()

    def _requests(self):
        while True:
            item = self._queue.get()
            if item is _ENDED:
                return
            yield item

    def send(self, message: pb.FetchRequest) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()  # one fetch of a stream cannot be cancelled
        with self._lock:
            if self.broken:
                raise _Broken()
            if message.id in self._pending:
                raise ValueError(f"id {message.id!r} is already in flight on this stream")
            self._pending[message.id] = future
            self._queue.put(message)
        return future

    def half_close(self) -> None:
        self._queue.put(_ENDED)

    def wait(self) -> None:
        self._reader.join()

    def _read(self) -> None:
        error = FetchpoolError(grpc.StatusCode.UNKNOWN, "", "the stream ended with fetches unanswered")
        try:
            for response in self._responses:
                with self._lock:
                    future = self._pending.pop(response.id, None)
                if future is None:
                    continue
                self._release_slot()
                if response.HasField("error"):
                    future.set_exception(from_fetch_error(response.error))
                else:
                    future.set_result(response)
        except grpc.RpcError as rpc_error:
            error = from_rpc_error(rpc_error)
        with self._lock:
            self.broken = True
            unanswered, self._pending = self._pending, {}
        self._queue.put(_ENDED)  # frees gRPC's request-consuming thread
        self._on_broken(error)
        for future in unanswered.values():
            self._release_slot()
            future.set_exception(error)

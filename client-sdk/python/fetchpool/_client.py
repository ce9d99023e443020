"""The synchronous client: fetchpool.Client."""
from concurrent.futures import Future
from typing import Any, Optional

import grpc

from ._call import RetryingCall
from ._core import ClientCore, merge_stats, request_key
from ._errors import from_rpc_error
from ._request import build_request, to_duration
from ._retry import is_replay_safe
from ._stream import FetchStream
from .v1 import fetchpool_pb2 as pb


class Client(ClientCore):
    """A fetchpool client; one per process, shared by all threads.

    Every call has a deadline (`timeout`, else `default_timeout`, 30 s);
    safe retries happen inside it. Failures raise FetchpoolError."""

    def _open_channel(self, target, credentials, options):
        if credentials is None:
            return grpc.insecure_channel(target, options=options)
        return grpc.secure_channel(target, credentials, options=options)

    def get(self, url: str, timeout: Optional[float] = None, **fields: Any) -> pb.FetchResponse:
        """A GET of `url` with the defaults (fields: any FetchRequest field)."""
        return self.fetch(url, timeout=timeout, **fields)

    def fetch(self, request: Any = None, timeout: Optional[float] = None, **fields: Any) -> pb.FetchResponse:
        """One fetch: `request` is a FetchRequest or a URL, and/or keyword fields."""
        return self.fetch_future(request, timeout, **fields).result()

    def fetch_future(self, request: Any = None, timeout: Optional[float] = None, **fields: Any) -> Future:
        """fetch() without waiting: a Future of the FetchResponse whose
        cancel() cancels the call in flight and any retry waiting to start."""
        message = build_request(request, **fields)
        key = request_key(message)
        metadata = self._fetch_metadata(key)
        replay_safe = is_replay_safe(message.method, message.idempotent)
        return RetryingCall(self, lambda stub, left: stub.Fetch.future(message, timeout=left, metadata=metadata),
                            lambda: self._router.member_for(key), replay_safe, self._deadline(timeout))

    def stats(self, host: str = "", timeout: Optional[float] = None) -> pb.StatsResponse:
        """A snapshot of the pools (of one pool key with `host`); with
        affinity, of every replica's pools, merged."""
        request = pb.StatsRequest(host=host)
        metadata = self._plain_metadata()
        deadline = self._deadline(timeout)
        calls = [RetryingCall(self, lambda stub, left: stub.Stats.future(request, timeout=left, metadata=metadata),
                              (lambda m=member: m), True, deadline)
                 for member in self._router.every_member()]
        return merge_stats([call.result() for call in calls])

    def watch_stats(self, interval: float = 1.0, host: str = "") -> "StatsWatch":
        """An iterator of StatsResponse every `interval` seconds; no deadline.
        close() it (or use it as a context manager) to end the call."""
        request = pb.WatchStatsRequest(interval=to_duration(interval), host=host)
        endpoint = self._router.channel_for(host or None)
        return StatsWatch(endpoint.stub.WatchStats(request, metadata=self._plain_metadata()))

    def open_stream(self, max_in_flight: int = 256) -> FetchStream:
        """Many fetches over FetchStream calls; submit() returns a Future."""
        return FetchStream(self, max_in_flight)

    def close(self) -> None:
        for endpoint in self._router.all_channels():
            endpoint.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class StatsWatch:
    """The WatchStats stream as an iterator; close() cancels the call."""

    def __init__(self, call):
        self._call = call
        self._closed = False

    def __iter__(self):
        return self

    def __next__(self) -> pb.StatsResponse:
        if self._closed:
            raise StopIteration
        try:
            return next(self._call)
        except grpc.RpcError as rpc_error:
            if self._closed and rpc_error.code() == grpc.StatusCode.CANCELLED:
                raise StopIteration from None
            raise from_rpc_error(rpc_error) from None

    def close(self) -> None:
        self._closed = True
        self._call.cancel()

    def __enter__(self) -> "StatsWatch":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

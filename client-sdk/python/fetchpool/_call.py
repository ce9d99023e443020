"""One sync call with its retries, as a Future: cancel() cancels the attempt
in flight and any retry waiting to start. Attempts chain through gRPC's
own futures and a timer, so no thread waits for a call."""
import threading
import time
from concurrent.futures import Future

import grpc

from ._errors import FetchpoolError, from_rpc_error


class RetryingCall(Future):
    """`start_attempt(stub, seconds_left)` returns a grpc.Future of one
    attempt; `pick_member()` names the replica for each attempt (None: the
    one channel); `client` is the ClientCore that routes and books failures."""

    def __init__(self, client, start_attempt, pick_member, replay_safe: bool, deadline: float):
        super().__init__()  # stays PENDING until settled, so cancel() works
        self._client = client
        self._start_attempt = start_attempt
        self._pick_member = pick_member
        self._replay_safe = replay_safe
        self._deadline = deadline
        self._lock = threading.Lock()
        self._attempts = 0
        self._in_flight = None
        self._timer = None
        self._member = None
        self._attempt()

    def cancel(self) -> bool:
        with self._lock:
            if self.done():
                return False
            in_flight, timer = self._in_flight, self._timer
            cancelled = super().cancel()
        if timer is not None:
            timer.cancel()
        if in_flight is not None:
            in_flight.cancel()
        return cancelled

    def _attempt(self) -> None:
        attempt, failure = None, None
        with self._lock:
            if self.cancelled():
                return
            self._attempts += 1
            try:
                self._member = self._pick_member()
                stub = self._client._router.member_channel(self._member).stub
                attempt = self._start_attempt(stub, max(0.0, self._deadline - time.monotonic()))
            except FetchpoolError as no_replica:
                failure = no_replica
            self._in_flight = attempt
        if failure is not None:
            self._failed(failure)
        else:
            attempt.add_done_callback(self._attempt_done)

    def _attempt_done(self, attempt) -> None:
        if attempt.cancelled() or self.cancelled():
            return
        error = attempt.exception()
        if error is None:
            self._client._on_success()
            self._settle(result=attempt.result())
        else:
            self._failed(from_rpc_error(error) if isinstance(error, grpc.RpcError) else error)

    def _failed(self, error: Exception) -> None:
        delay = None
        if isinstance(error, FetchpoolError):
            delay = self._client._after_failure(error, self._replay_safe, self._attempts, self._deadline,
                                                self._member)
        if delay is None:
            self._settle(error=error)
            return
        with self._lock:
            if self.cancelled():
                return
            self._timer = threading.Timer(delay, self._attempt)
            self._timer.daemon = True
            self._timer.start()

    def _settle(self, result=None, error=None) -> None:
        with self._lock:
            if self.done():
                return
            if error is not None:
                self.set_exception(error)
            else:
                self.set_result(result)

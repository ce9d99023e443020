"""What the sync and the asyncio client share: options, routing, metadata,
and the retry decision with its budget."""
import random
import time
from collections import namedtuple
from typing import Optional

import grpc

from . import _retry
from ._channel import POOL_KEY_HEADER, Router, Settings
from ._errors import FetchpoolError
from ._pool_key import pool_key
from .v1 import fetchpool_pb2 as pb
from .v1 import fetchpool_pb2_grpc as pb_grpc

Endpoint = namedtuple("Endpoint", "channel stub")


class ClientCore:
    """Subclasses give _open_channel(target, credentials, options)."""

    def __init__(self, target: str, *, default_timeout: float = 30.0, ca_file: Optional[str] = None,
                 client_cert_file: Optional[str] = None, client_key_file: Optional[str] = None,
                 token: Optional[str] = None, allow_token_over_plaintext: bool = False,
                 server_name_override: Optional[str] = None, affinity: Optional[str] = None):
        self._settings = Settings(target, default_timeout, ca_file, client_cert_file, client_key_file,
                                  token, allow_token_over_plaintext, server_name_override, affinity)
        credentials = self._settings.credentials()

        def open_endpoint(channel_target, options):
            channel = self._open_channel(channel_target, credentials, options)
            return Endpoint(channel, pb_grpc.FetchPoolStub(channel))

        self._router = Router(self._settings, open_endpoint)
        self._budget = _retry.RetryBudget()
        self._random = random.Random()

    def _open_channel(self, target, credentials, options):
        raise NotImplementedError

    @property
    def target(self) -> str:
        return self._settings.target

    @property
    def replicas(self):
        """With affinity="host": the replicas (ip:port) the ring hashes over."""
        return self._router.members

    def _deadline(self, timeout: Optional[float]) -> float:
        seconds = self._settings.default_timeout if timeout is None else float(timeout)
        return time.monotonic() + seconds

    def _fetch_metadata(self, key: Optional[str]):
        metadata = self._settings.call_metadata()
        if key is not None:
            metadata.append((POOL_KEY_HEADER, key))
        return tuple(metadata)

    def _plain_metadata(self):
        return tuple(self._settings.call_metadata())

    def _after_failure(self, error: FetchpoolError, replay_safe: bool, attempts: int,
                       deadline: float, member: Optional[str] = None) -> Optional[float]:
        """Books the failure of an attempt sent to `member`; the sleep before
        the next attempt, or None."""
        budget_allows = True
        if _retry.is_throttled_failure(error.code, error.reason):
            budget_allows = self._budget.on_failure()
        if error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "":
            self._router.on_unavailable(member)
        return _retry.retry_delay(code=error.code, reason=error.reason, replay_safe=replay_safe,
                                  attempts_made=attempts, time_left=deadline - time.monotonic(),
                                  budget_allows=budget_allows, fraction=self._random.random())

    def _on_success(self) -> None:
        self._budget.on_success()


def request_key(request) -> Optional[str]:
    return pool_key(request.url)


def merge_stats(responses) -> pb.StatsResponse:
    """One StatsResponse from several replicas': their pools side by side,
    and totals that add up every counter and gauge."""
    if len(responses) == 1:
        return responses[0]
    merged = pb.StatsResponse()
    for response in responses:
        merged.pools.extend(response.pools)
        merged.pool_count += response.pool_count
        for field, value in response.totals.ListFields():
            if field.type in (field.TYPE_UINT32, field.TYPE_UINT64):
                setattr(merged.totals, field.name, getattr(merged.totals, field.name) + value)
    return merged

"""The retry rules of client-sdk/README.md ("Retries, safe by construction"),
as pure functions plus the token-bucket budget, shared by both clients."""
import threading
from typing import Optional

import grpc

MAX_ATTEMPTS = 5
BUDGET_MAX_TOKENS = 10.0
BUDGET_TOKEN_RATIO = 0.1
BUDGET_THRESHOLD = 5.0  # retry only while the bucket holds more than this
# fetchpoold answers these before the fetch took a connection: nothing
# reached the origin, so even a POST may go again.
REASONS_BEFORE_EXCHANGE = frozenset({"SHUTTING_DOWN", "QUEUE_FULL"})
REPLAY_SAFE_METHODS = frozenset({"", "GET", "HEAD", "OPTIONS"})


def is_replay_safe(method: str, idempotent: bool) -> bool:
    return idempotent or method.upper() in REPLAY_SAFE_METHODS


def is_throttled_failure(code: grpc.StatusCode, reason: str) -> bool:
    """A failure in the retry table: it takes a token from the budget,
    whether or not this request may be retried on it."""
    return reason in REASONS_BEFORE_EXCHANGE or (code == grpc.StatusCode.UNAVAILABLE and reason == "")


def may_retry(code: grpc.StatusCode, reason: str, replay_safe: bool) -> bool:
    """Whether sending the request again cannot make the origin see it twice
    (or the request says that is fine)."""
    if reason in REASONS_BEFORE_EXCHANGE:
        return True
    return replay_safe and code == grpc.StatusCode.UNAVAILABLE and reason == ""


def backoff_ceiling(retry: int) -> float:
    """b for retry n (1, 2, ...): min(250 ms * 2^(n-1), 2 s), in seconds."""
    return min(0.25 * (2 ** (retry - 1)), 2.0)


def backoff_delay(retry: int, fraction: float) -> float:
    """The sleep before retry n for a uniform `fraction` in [0, 1]: [b/2, b]."""
    ceiling = backoff_ceiling(retry)
    return ceiling / 2 + fraction * ceiling / 2


def retry_delay(*, code: grpc.StatusCode, reason: str, replay_safe: bool, attempts_made: int,
                time_left: float, budget_allows: bool, fraction: float) -> Optional[float]:
    """The sleep before the next attempt, or None when the last error stands.

    attempts_made counts the attempts so far (1 after the first failure);
    time_left is what remains of the call's deadline, in seconds; a retry
    whose sleep would end past it is not made."""
    if attempts_made >= MAX_ATTEMPTS or not may_retry(code, reason, replay_safe):
        return None
    if not budget_allows:
        return None
    delay = backoff_delay(attempts_made, fraction)
    return delay if delay < time_left else None


class RetryBudget:
    """gRPC's retry throttling (gRFC A6): max_tokens 10, token_ratio 0.1,
    full at the start. Thread-safe; one per client."""

    def __init__(self, max_tokens: float = BUDGET_MAX_TOKENS, token_ratio: float = BUDGET_TOKEN_RATIO):
        self._max = max_tokens
        self._ratio = token_ratio
        self._tokens = max_tokens
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        with self._lock:
            return self._tokens

    def on_success(self) -> None:
        with self._lock:
            self._tokens = min(self._max, self._tokens + self._ratio)

    def on_failure(self) -> bool:
        """Takes a token for a failure in the retry table; True while a retry
        is still allowed (more than half the bucket left)."""
        with self._lock:
            self._tokens = max(0.0, self._tokens - 1.0)
            return self._tokens > BUDGET_THRESHOLD

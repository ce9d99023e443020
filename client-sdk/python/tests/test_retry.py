import grpc
import pytest

from fetchpool import _retry
from fetchpool._retry import RetryBudget, backoff_ceiling, backoff_delay, is_replay_safe, may_retry, retry_delay

U = grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("method,idempotent,safe", [
    ("", False, True), ("GET", False, True), ("get", False, True), ("HEAD", False, True),
    ("OPTIONS", False, True), ("POST", False, False), ("PUT", False, False), ("DELETE", False, False),
    ("POST", True, True),
])
def test_replay_safe(method, idempotent, safe):
    assert is_replay_safe(method, idempotent) is safe


@pytest.mark.parametrize("code,reason,replay_safe,retried", [
    (U, "SHUTTING_DOWN", False, True),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "QUEUE_FULL", False, True),
    (U, "SHUTTING_DOWN", True, True),
    (U, "", True, True),
    (U, "", False, False),                     # a POST is never sent twice
    (U, "CONNECTION_RESET", True, False),      # fetchpoold replayed what was safe already
    (U, "UPSTREAM_TOO_SLOW", True, False),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "WAIT_TIMEOUT", True, False),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "", True, False),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "RESPONSE_TOO_LARGE", True, False),
    (grpc.StatusCode.UNAUTHENTICATED, "", True, False),
    (grpc.StatusCode.INTERNAL, "", True, False),
])
def test_retry_table(code, reason, replay_safe, retried):
    assert may_retry(code, reason, replay_safe) is retried


def test_throttled_failures_are_the_table_rows():
    assert _retry.is_throttled_failure(U, "")
    assert _retry.is_throttled_failure(U, "SHUTTING_DOWN")
    assert _retry.is_throttled_failure(grpc.StatusCode.RESOURCE_EXHAUSTED, "QUEUE_FULL")
    assert not _retry.is_throttled_failure(U, "CONNECTION_RESET")
    assert not _retry.is_throttled_failure(grpc.StatusCode.DEADLINE_EXCEEDED, "")


def test_backoff_ceilings():
    assert [backoff_ceiling(n) for n in range(1, 7)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


@pytest.mark.parametrize("n,low,high", [(1, 0.125, 0.25), (2, 0.25, 0.5), (3, 0.5, 1.0), (4, 1.0, 2.0), (9, 1.0, 2.0)])
def test_backoff_jitter_range(n, low, high):
    assert backoff_delay(n, 0.0) == pytest.approx(low)
    assert backoff_delay(n, 1.0) == pytest.approx(high)
    assert low <= backoff_delay(n, 0.5) <= high


def decide(**overrides):
    args = dict(code=U, reason="", replay_safe=True, attempts_made=1, time_left=30.0,
                budget_allows=True, fraction=1.0)
    args.update(overrides)
    return retry_delay(**args)


def test_retry_delay_follows_attempts():
    assert decide(attempts_made=1) == pytest.approx(0.25)
    assert decide(attempts_made=4) == pytest.approx(2.0)
    assert decide(attempts_made=5) is None  # five attempts at most


def test_retry_never_passes_the_deadline():
    assert decide(time_left=0.2) is None  # would sleep 0.25 s
    assert decide(time_left=0.3) == pytest.approx(0.25)


def test_no_retry_without_budget_or_permission():
    assert decide(budget_allows=False) is None
    assert decide(replay_safe=False) is None
    assert decide(replay_safe=False, reason="QUEUE_FULL") == pytest.approx(0.25)


def test_budget_starts_full_and_allows_four_failures_in_a_row():
    budget = RetryBudget()
    assert budget.tokens == 10
    assert [budget.on_failure() for _ in range(6)] == [True, True, True, True, False, False]
    assert budget.tokens == 4


def test_budget_floor_and_ceiling():
    budget = RetryBudget()
    for _ in range(20):
        budget.on_failure()
    assert budget.tokens == 0
    for _ in range(200):
        budget.on_success()
    assert budget.tokens == pytest.approx(10)


def test_budget_refills_by_a_tenth_per_success():
    budget = RetryBudget()
    for _ in range(5):
        budget.on_failure()  # 5 tokens: no retry
    assert not budget.on_failure()  # 4
    for _ in range(20):
        budget.on_success()  # +2.0 -> 6
    assert budget.tokens == pytest.approx(6)
    assert not budget.on_failure()  # 5 is not more than 5
    budget.on_success()
    budget.on_success()
    assert budget.on_failure() is False  # 5.2 - 1 = 4.2

package dev.fetchpool.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status.Code;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RetryPolicyTest {
  @Test
  void replaySafeMethods() {
    assertTrue(RetryPolicy.isReplaySafe("", false));
    assertTrue(RetryPolicy.isReplaySafe("GET", false));
    assertTrue(RetryPolicy.isReplaySafe("head", false));
    assertTrue(RetryPolicy.isReplaySafe("OPTIONS", false));
    assertFalse(RetryPolicy.isReplaySafe("POST", false));
    assertFalse(RetryPolicy.isReplaySafe("PUT", false));
    assertFalse(RetryPolicy.isReplaySafe("DELETE", false));
    assertTrue(RetryPolicy.isReplaySafe("POST", true));
  }

  @Test
  void theTable() {
    // SHUTTING_DOWN and QUEUE_FULL: nothing reached the origin, so even a POST goes again.
    for (boolean safe : new boolean[] {false, true}) {
      assertTrue(RetryPolicy.shouldRetry(Code.UNAVAILABLE, "SHUTTING_DOWN", safe));
      assertTrue(RetryPolicy.shouldRetry(Code.RESOURCE_EXHAUSTED, "QUEUE_FULL", safe));
    }
    // UNAVAILABLE without a reason: only a replay-safe request.
    assertTrue(RetryPolicy.shouldRetry(Code.UNAVAILABLE, "", true));
    assertFalse(RetryPolicy.shouldRetry(Code.UNAVAILABLE, "", false));
    // Anything else: never.
    for (boolean safe : new boolean[] {false, true}) {
      assertFalse(RetryPolicy.shouldRetry(Code.UNAVAILABLE, "CONNECTION_RESET", safe));
      assertFalse(RetryPolicy.shouldRetry(Code.UNAVAILABLE, "UPSTREAM_TOO_SLOW", safe));
      assertFalse(RetryPolicy.shouldRetry(Code.DEADLINE_EXCEEDED, "", safe));
      assertFalse(RetryPolicy.shouldRetry(Code.DEADLINE_EXCEEDED, "WAIT_TIMEOUT", safe));
      assertFalse(RetryPolicy.shouldRetry(Code.RESOURCE_EXHAUSTED, "CALLER_QUOTA_EXCEEDED", safe));
      assertFalse(RetryPolicy.shouldRetry(Code.INTERNAL, "", safe));
      assertFalse(RetryPolicy.shouldRetry(Code.CANCELLED, "", safe));
    }
    assertTrue(RetryPolicy.isRetryableKind(Code.UNAVAILABLE, ""));
    assertTrue(RetryPolicy.isRetryableKind(Code.RESOURCE_EXHAUSTED, "QUEUE_FULL"));
    assertFalse(RetryPolicy.isRetryableKind(Code.UNAVAILABLE, "CONNECT_REFUSED"));
  }

  @Test
  void backoffCeilings() {
    assertEquals(250_000_000L, RetryPolicy.backoffCeilingNanos(1));
    assertEquals(500_000_000L, RetryPolicy.backoffCeilingNanos(2));
    assertEquals(1_000_000_000L, RetryPolicy.backoffCeilingNanos(3));
    assertEquals(2_000_000_000L, RetryPolicy.backoffCeilingNanos(4));
    assertEquals(2_000_000_000L, RetryPolicy.backoffCeilingNanos(40));
  }

  @Test
  void backoffIsWithinHalfToFull() {
    Random random = new Random(7);
    for (int retry = 1; retry <= 5; retry++) {
      long ceiling = RetryPolicy.backoffCeilingNanos(retry);
      long min = Long.MAX_VALUE;
      long max = 0;
      for (int i = 0; i < 2000; i++) {
        long sleep = RetryPolicy.backoffNanos(retry, random);
        assertTrue(sleep >= ceiling / 2 && sleep <= ceiling, "retry " + retry + ": " + sleep);
        min = Math.min(min, sleep);
        max = Math.max(max, sleep);
      }
      assertTrue(min < ceiling * 0.55 && max > ceiling * 0.95, "spread over the range");
    }
  }

  @Test
  void atMostFiveAttempts() {
    assertEquals(5, RetryPolicy.MAX_ATTEMPTS);
  }
}

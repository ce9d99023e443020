package dev.fetchpool.client;

import io.grpc.Status;
import java.time.Duration;
import java.util.Locale;
import java.util.Random;

/**
 * Which failed fetches may be sent again, and how long to wait before retry n
 * (client-sdk/README.md, "Retries, safe by construction"). Pure: no clock, no I/O.
 */
public final class RetryPolicy {
  public static final int MAX_ATTEMPTS = 5;
  private static final long BASE_NANOS = Duration.ofMillis(250).toNanos();
  private static final long CAP_NANOS = Duration.ofSeconds(2).toNanos();

  private RetryPolicy() {}

  /** GET, HEAD and OPTIONS (an empty method is GET), or a request marked idempotent. */
  public static boolean isReplaySafe(String method, boolean idempotent) {
    if (idempotent) return true;
    String m = method == null ? "" : method.toUpperCase(Locale.ROOT);
    return m.isEmpty() || m.equals("GET") || m.equals("HEAD") || m.equals("OPTIONS");
  }

  /**
   * Whether the failure is one of the table's retryable kinds at all (it then costs a budget
   * token): SHUTTING_DOWN, QUEUE_FULL, or UNAVAILABLE with no reason.
   */
  public static boolean isRetryableKind(Status.Code code, String reason) {
    if ("SHUTTING_DOWN".equals(reason) || "QUEUE_FULL".equals(reason)) return true;
    return code == Status.Code.UNAVAILABLE && (reason == null || reason.isEmpty());
  }

  /** Whether this failure may be retried for this request. */
  public static boolean shouldRetry(Status.Code code, String reason, boolean replaySafe) {
    if ("SHUTTING_DOWN".equals(reason) || "QUEUE_FULL".equals(reason)) return true;
    boolean noReason = reason == null || reason.isEmpty();
    return replaySafe && noReason && code == Status.Code.UNAVAILABLE;
  }

  /** b = min(250 ms × 2^(n−1), 2 s) for retry n = 1, 2, ... */
  public static long backoffCeilingNanos(int retry) {
    if (retry < 1) throw new IllegalArgumentException("retry numbers start at 1");
    int shift = Math.min(retry - 1, 10);
    return Math.min(BASE_NANOS << shift, CAP_NANOS);
  }

  /** A uniformly random time in [b/2, b]. */
  public static long backoffNanos(int retry, Random random) {
    long ceiling = backoffCeilingNanos(retry);
    long floor = ceiling / 2;
    return floor + (long) (random.nextDouble() * (ceiling - floor + 1));
  }
}

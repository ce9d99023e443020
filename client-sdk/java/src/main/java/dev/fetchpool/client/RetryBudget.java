package dev.fetchpool.client;

/**
 * gRPC's retry throttling (gRFC A6) with max_tokens 10 and token_ratio 0.1: a failure of a
 * retryable kind takes one token, a success gives back 0.1, and a retry is made only while
 * more than half the bucket is left. Thread-safe; one per client.
 */
public final class RetryBudget {
  // Tokens in thousandths, as gRFC A6 suggests, so 0.1 adds up exactly.
  private static final int SCALE = 1000;
  private final int maxTokens;
  private final int tokenRatio;
  private int tokens;

  public RetryBudget() {
    this(10, 0.1);
  }

  public RetryBudget(int maxTokens, double tokenRatio) {
    this.maxTokens = maxTokens * SCALE;
    this.tokenRatio = (int) Math.round(tokenRatio * SCALE);
    this.tokens = this.maxTokens;
  }

  /** A failed attempt whose failure is in the retry table. */
  public synchronized void onRetryableFailure() {
    tokens = Math.max(0, tokens - SCALE);
  }

  public synchronized void onSuccess() {
    tokens = Math.min(maxTokens, tokens + tokenRatio);
  }

  /** Whether a retry may be made now: the bucket holds more than max_tokens / 2. */
  public synchronized boolean allowsRetry() {
    return tokens > maxTokens / 2;
  }

  public synchronized double tokens() {
    return tokens / (double) SCALE;
  }
}

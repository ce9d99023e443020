package dev.fetchpool.client;

import io.grpc.Metadata;
import io.grpc.Status;

/**
 * A fetch (or stats call) that failed: the gRPC status code, fetchpool's stable reason (the
 * {@code fetchpool-reason} trailer; "" when the failure was in the transport, not in
 * fetchpool) and fetchpool's message. An upstream HTTP status is not an error.
 */
public class FetchpoolException extends RuntimeException {
  static final Metadata.Key<String> REASON_KEY =
      Metadata.Key.of("fetchpool-reason", Metadata.ASCII_STRING_MARSHALLER);

  private final Status.Code code;
  private final String reason;

  public FetchpoolException(Status.Code code, String reason, String message) {
    this(code, reason, message, null);
  }

  public FetchpoolException(Status.Code code, String reason, String message, Throwable cause) {
    super(message == null ? "" : message, cause);
    this.code = code;
    this.reason = reason == null ? "" : reason;
  }

  /** Builds the exception from a failed call's status and trailers. */
  static FetchpoolException fromStatus(Status status, Metadata trailers) {
    String reason = trailers == null ? null : trailers.get(REASON_KEY);
    return new FetchpoolException(status.getCode(), reason, status.getDescription(), status.getCause());
  }

  static FetchpoolException fromThrowable(Throwable t) {
    if (t instanceof FetchpoolException) return (FetchpoolException) t;
    return fromStatus(Status.fromThrowable(t), Status.trailersFromThrowable(t));
  }

  public Status.Code getCode() {
    return code;
  }

  /** The fetchpool-reason trailer, e.g. "WAIT_TIMEOUT"; "" when there was none. */
  public String getReason() {
    return reason;
  }

  @Override
  public String toString() {
    return "FetchpoolException{" + code + (reason.isEmpty() ? "" : " " + reason) + ": " + getMessage() + "}";
  }
}

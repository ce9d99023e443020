package dev.fetchpool.client;

import dev.fetchpool.v1.FetchError;
import dev.fetchpool.v1.FetchPoolGrpc;
import dev.fetchpool.v1.FetchRequest;
import dev.fetchpool.v1.FetchResponse;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The FetchStream wrapper: many fetches over one call (one per replica with affinity),
 * answers matched by id. {@link #submit} blocks while maxInFlight fetches are unanswered. It
 * does not retry; a stream that breaks fails its unanswered futures, and the next submit
 * opens a new one. No deadline: {@link #close()} ends it.
 */
public final class FetchStream implements AutoCloseable {
  private static final AtomicLong STREAM_IDS = new AtomicLong();

  private final FetchpoolClient client;
  private final Semaphore slots;
  private final String idPrefix = "fpj" + STREAM_IDS.incrementAndGet() + "-";
  private final AtomicLong nextId = new AtomicLong();
  private final Map<String, Lane> lanes = new HashMap<>(); // by replica ("" without affinity)
  private boolean closed;

  FetchStream(FetchpoolClient client, int maxInFlight) {
    if (maxInFlight < 1) throw new IllegalArgumentException("maxInFlight must be at least 1");
    this.client = client;
    this.slots = new Semaphore(maxInFlight);
  }

  /**
   * Sends one fetch; the future completes with its response, or a {@link FetchpoolException}
   * built from FetchResponse.error or the stream's status. Blocks while maxInFlight fetches
   * are unanswered.
   */
  public CompletableFuture<FetchResponse> submit(FetchRequest request) {
    if (request.getId().isEmpty()) {
      request = request.toBuilder().setId(idPrefix + nextId.incrementAndGet()).build();
    }
    try {
      slots.acquire();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new FetchpoolException(Status.Code.CANCELLED, "", "interrupted waiting for a stream slot", e);
    }
    String poolKey = PoolKey.of(request.getUrl());
    CompletableFuture<FetchResponse> future = new CompletableFuture<>();
    future.whenComplete((response, error) -> slots.release());
    Lane lane;
    synchronized (this) {
      if (closed) {
        future.completeExceptionally(
            new FetchpoolException(Status.Code.FAILED_PRECONDITION, "", "the FetchStream is closed"));
        return future;
      }
      String laneKey = client.laneFor(poolKey);
      lane = lanes.get(laneKey);
      if (lane == null || lane.broken) {
        lane = new Lane(poolKey);
        lanes.put(laneKey, lane);
      }
    }
    lane.send(request, future);
    return future;
  }

  /** Half-closes every stream and waits for the outstanding answers. */
  @Override
  public void close() {
    List<Lane> open;
    synchronized (this) {
      closed = true;
      open = new ArrayList<>(lanes.values());
    }
    for (Lane lane : open) lane.halfClose();
    for (Lane lane : open) lane.done.join();
  }

  /** One FetchStream call. */
  private final class Lane implements StreamObserver<FetchResponse> {
    final Map<String, CompletableFuture<FetchResponse>> pending = new ConcurrentHashMap<>();
    final CompletableFuture<Void> done = new CompletableFuture<>();
    final StreamObserver<FetchRequest> requests;
    volatile boolean broken;

    Lane(String poolKey) {
      io.grpc.Channel channel = client.channelFor(poolKey);
      if (poolKey != null) {
        Metadata headers = new Metadata();
        headers.put(RetryingCall.POOL_KEY_HEADER, poolKey);
        channel = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
      }
      requests = FetchPoolGrpc.newStub(channel).fetchStream(this);
    }

    void send(FetchRequest request, CompletableFuture<FetchResponse> future) {
      pending.put(request.getId(), future);
      synchronized (this) {
        if (broken) {
          failAll(Status.UNAVAILABLE.withDescription("the stream broke before this fetch was sent"));
          return;
        }
        requests.onNext(request);
      }
    }

    synchronized void halfClose() {
      if (!broken) requests.onCompleted();
    }

    @Override
    public void onNext(FetchResponse response) {
      CompletableFuture<FetchResponse> future = pending.remove(response.getId());
      if (future == null) return;
      if (response.hasError()) {
        FetchError error = response.getError();
        future.completeExceptionally(new FetchpoolException(
            Status.fromCodeValue(error.getCode()).getCode(), error.getReason(), error.getMessage()));
      } else {
        future.complete(response);
      }
    }

    @Override
    public void onError(Throwable t) {
      broken = true;
      FetchpoolException error = FetchpoolException.fromThrowable(t);
      for (String id : new ArrayList<>(pending.keySet())) {
        CompletableFuture<FetchResponse> future = pending.remove(id);
        if (future != null) future.completeExceptionally(error);
      }
      done.complete(null);
    }

    private void failAll(Status status) {
      onError(status.asRuntimeException());
    }

    @Override
    public void onCompleted() {
      broken = true;
      onError(Status.UNAVAILABLE.withDescription("the stream ended with fetches unanswered")
          .asRuntimeException());
    }
  }
}

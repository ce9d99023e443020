package dev.fetchpool.client;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * One unary call with the contract's retries, all inside one deadline. The future it is
 * completes with the response or a {@link FetchpoolException}; cancelling it cancels the
 * attempt in flight and any retry waiting to start.
 */
final class RetryingCall<ReqT, RespT> extends CompletableFuture<RespT> {
  static final Metadata.Key<String> POOL_KEY_HEADER =
      Metadata.Key.of("fetchpool-pool-key", Metadata.ASCII_STRING_MARSHALLER);

  /** Where the attempts go, and what to do when one found no fetchpool at all. */
  interface Routing {
    Channel channelFor(String poolKey);

    void onUnavailableWithoutReason();
  }

  private final Routing routing;
  private final RetryBudget budget;
  private final ScheduledExecutorService scheduler;
  private final MethodDescriptor<ReqT, RespT> method;
  private final ReqT request;
  private final String poolKey;
  private final boolean sendPoolKey;
  private final boolean replaySafe;
  private final Deadline deadline;
  private final Random random = ThreadLocalRandom.current();
  private int attempts;
  private volatile ListenableFuture<RespT> inFlight;
  private volatile ScheduledFuture<?> pendingRetry;

  RetryingCall(Routing routing, RetryBudget budget, ScheduledExecutorService scheduler,
      MethodDescriptor<ReqT, RespT> method, ReqT request, String poolKey, boolean sendPoolKey,
      boolean replaySafe, Deadline deadline) {
    this.routing = routing;
    this.budget = budget;
    this.scheduler = scheduler;
    this.method = method;
    this.request = request;
    this.poolKey = poolKey;
    this.sendPoolKey = sendPoolKey;
    this.replaySafe = replaySafe;
    this.deadline = deadline;
  }

  RetryingCall<ReqT, RespT> start() {
    attempt();
    return this;
  }

  private void attempt() {
    if (isDone()) return;
    attempts++;
    ListenableFuture<RespT> call;
    try {
      Channel channel = routing.channelFor(poolKey);
      if (sendPoolKey && poolKey != null) {
        Metadata headers = new Metadata();
        headers.put(POOL_KEY_HEADER, poolKey);
        channel = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
      }
      call = ClientCalls.futureUnaryCall(
          channel.newCall(method, CallOptions.DEFAULT.withDeadline(deadline)), request);
    } catch (RuntimeException e) {
      onFailure(e);
      return;
    }
    inFlight = call;
    if (isCancelled()) call.cancel(true);
    Futures.addCallback(call, new FutureCallback<RespT>() {
      @Override
      public void onSuccess(RespT response) {
        budget.onSuccess();
        complete(response);
      }

      @Override
      public void onFailure(Throwable t) {
        RetryingCall.this.onFailure(t);
      }
    }, MoreExecutors.directExecutor());
  }

  private void onFailure(Throwable t) {
    if (isDone()) return;
    FetchpoolException error = FetchpoolException.fromThrowable(t);
    Status.Code code = error.getCode();
    String reason = error.getReason();
    if (RetryPolicy.isRetryableKind(code, reason)) budget.onRetryableFailure();
    if (code == Status.Code.UNAVAILABLE && reason.isEmpty()) routing.onUnavailableWithoutReason();
    if (!RetryPolicy.shouldRetry(code, reason, replaySafe) || attempts >= RetryPolicy.MAX_ATTEMPTS
        || !budget.allowsRetry()) {
      completeExceptionally(error);
      return;
    }
    long sleepNanos = RetryPolicy.backoffNanos(attempts, random);
    if (deadline.timeRemaining(TimeUnit.NANOSECONDS) <= sleepNanos) {
      completeExceptionally(error);
      return;
    }
    pendingRetry = scheduler.schedule(this::attempt, sleepNanos, TimeUnit.NANOSECONDS);
    if (isCancelled()) pendingRetry.cancel(false);
  }

  @Override
  public boolean cancel(boolean mayInterruptIfRunning) {
    boolean cancelled = super.cancel(mayInterruptIfRunning);
    ListenableFuture<RespT> call = inFlight;
    if (call != null) call.cancel(true);
    ScheduledFuture<?> retry = pendingRetry;
    if (retry != null) retry.cancel(false);
    return cancelled;
  }
}

package dev.fetchpool.client;

import dev.fetchpool.v1.FetchPoolGrpc;
import dev.fetchpool.v1.FetchRequest;
import dev.fetchpool.v1.FetchResponse;
import dev.fetchpool.v1.StatsRequest;
import dev.fetchpool.v1.StatsResponse;
import dev.fetchpool.v1.WatchStatsRequest;
import io.grpc.Channel;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.net.InetAddress;
import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * A fetchpool client: one per process, shared by all threads (client-sdk/README.md is the
 * contract). Every call has a deadline (the per-call timeout, else defaultTimeout, 30 s);
 * failed fetches are retried only when sending them again cannot make the origin see the
 * request twice.
 *
 * <pre>{@code
 * try (FetchpoolClient client = FetchpoolClient.builder("fetchpoold:50051").build()) {
 *   FetchResponse response = client.get("https://example.com/");
 * }
 * }</pre>
 */
public final class FetchpoolClient implements AutoCloseable {
  private final Duration defaultTimeout;
  private final ChannelFactory factory;
  private final ManagedChannel channel; // round_robin, when there is no affinity
  private final Replicas replicas; // affinity: host
  private final RetryBudget budget = new RetryBudget();
  private final ScheduledThreadPoolExecutor scheduler;
  private final RetryingCall.Routing routing = new RetryingCall.Routing() {
    @Override
    public Channel channelFor(String poolKey) {
      return FetchpoolClient.this.channelFor(poolKey);
    }

    @Override
    public void onUnavailableWithoutReason() {
      if (replicas != null) replicas.resolveSoon();
    }
  };

  private FetchpoolClient(Builder options) {
    this.defaultTimeout = options.defaultTimeout;
    this.factory = new ChannelFactory(options);
    this.scheduler = new ScheduledThreadPoolExecutor(1, runnable -> {
      Thread thread = new Thread(runnable, "fetchpool-client");
      thread.setDaemon(true);
      return thread;
    });
    scheduler.setRemoveOnCancelPolicy(true);
    if (options.affinity == Affinity.HOST) {
      this.channel = null;
      this.replicas = new Replicas(factory, options.resolver, stripDnsScheme(options.target), scheduler);
    } else {
      this.channel = factory.forTarget(options.target);
      this.replicas = null;
    }
  }

  /** "host:port" of a host:port or dns: target: what affinity resolves itself. */
  private static String stripDnsScheme(String target) {
    String hostPort = target;
    if (target.startsWith("dns:///")) {
      hostPort = target.substring("dns:///".length());
    } else if (target.startsWith("dns://")) {
      int slash = target.indexOf('/', "dns://".length());
      hostPort = slash < 0 ? "" : target.substring(slash + 1);
    }
    if (!hostPort.matches("(\\[[0-9A-Fa-f:.]+\\]|[^:/\\[\\]]+):[0-9]{1,5}")) {
      throw new IllegalArgumentException("affinity HOST needs a host:port or dns:///host:port "
          + "target (it resolves the host itself), not " + target);
    }
    return hostPort;
  }

  public static Builder builder(String target) {
    return new Builder(target);
  }

  /** A GET with the defaults. */
  public FetchResponse get(String url) {
    return fetch(FetchRequest.newBuilder().setUrl(url).build());
  }

  public FetchResponse fetch(FetchRequest request) {
    return fetch(request, defaultTimeout);
  }

  public FetchResponse fetch(FetchRequest request, Duration timeout) {
    return await(fetchAsync(request, timeout));
  }

  public CompletableFuture<FetchResponse> fetchAsync(FetchRequest request) {
    return fetchAsync(request, defaultTimeout);
  }

  /** Completes with the response or a {@link FetchpoolException}; cancel() cancels the call. */
  public CompletableFuture<FetchResponse> fetchAsync(FetchRequest request, Duration timeout) {
    boolean replaySafe = RetryPolicy.isReplaySafe(request.getMethod(), request.getIdempotent());
    return new RetryingCall<>(routing, budget, scheduler, FetchPoolGrpc.getFetchMethod(), request,
        PoolKey.of(request.getUrl()), true, replaySafe, deadlineAfter(timeout)).start();
  }

  /** Every pool's stats. */
  public StatsResponse stats() {
    return stats("");
  }

  /** One pool's stats ({@code host} is a pool key, scheme://host:port), or all for "". */
  public StatsResponse stats(String host) {
    StatsRequest request = StatsRequest.newBuilder().setHost(host).build();
    return await(new RetryingCall<>(routing, budget, scheduler, FetchPoolGrpc.getStatsMethod(),
        request, host.isEmpty() ? null : host, false, true, deadlineAfter(defaultTimeout)).start());
  }

  /**
   * A StatsResponse every {@code interval} until closed; no deadline. Iterate it, or take
   * {@link StatsWatch#stream()}.
   */
  public StatsWatch watchStats(Duration interval, String host) {
    WatchStatsRequest request = WatchStatsRequest.newBuilder()
        .setInterval(com.google.protobuf.Duration.newBuilder()
            .setSeconds(interval.getSeconds()).setNanos(interval.getNano()))
        .setHost(host == null ? "" : host)
        .build();
    return new StatsWatch(channelFor(host == null || host.isEmpty() ? null : host), request);
  }

  /** The FetchStream wrapper with at most 256 fetches unanswered. */
  public FetchStream openStream() {
    return openStream(256);
  }

  public FetchStream openStream(int maxInFlight) {
    return new FetchStream(this, maxInFlight);
  }

  /** The channel a fetch of this pool key goes on (any replica for null). */
  Channel channelFor(String poolKey) {
    return replicas != null ? replicas.channelFor(poolKey) : channel;
  }

  /** The replica a pool key goes to ("" without affinity): one FetchStream lane each. */
  String laneFor(String poolKey) {
    if (replicas == null) return "";
    String member = replicas.memberFor(poolKey);
    return member == null ? "" : member;
  }

  private static Deadline deadlineAfter(Duration timeout) {
    return Deadline.after(Math.max(1, timeout.toNanos()), TimeUnit.NANOSECONDS);
  }

  static <T> T await(CompletableFuture<T> future) {
    try {
      return future.get();
    } catch (ExecutionException e) {
      throw FetchpoolException.fromThrowable(e.getCause());
    } catch (CancellationException e) {
      throw new FetchpoolException(Status.Code.CANCELLED, "", "the call was cancelled", e);
    } catch (InterruptedException e) {
      future.cancel(true);
      Thread.currentThread().interrupt();
      throw new FetchpoolException(Status.Code.CANCELLED, "", "interrupted while waiting", e);
    }
  }

  @Override
  public void close() {
    if (channel != null) channel.shutdown();
    if (replicas != null) replicas.close();
    scheduler.shutdownNow();
    try {
      if (channel != null) channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The client's options (client-sdk/README.md, "Credentials"). */
  public static final class Builder {
    final String target;
    Duration defaultTimeout = Duration.ofSeconds(30);
    boolean tls;
    String caFile;
    String clientCertFile;
    String clientKeyFile;
    String token;
    boolean allowTokenOverPlaintext;
    String serverNameOverride;
    Affinity affinity = Affinity.NONE;
    Replicas.Resolver resolver = InetAddress::getAllByName;

    private Builder(String target) {
      if (target == null || target.isEmpty()) throw new IllegalArgumentException("empty target");
      this.target = target;
    }

    public Builder defaultTimeout(Duration timeout) {
      this.defaultTimeout = timeout;
      return this;
    }

    /** TLS with the system roots (caFile and clientCert turn TLS on as well). */
    public Builder tls(boolean tls) {
      this.tls = tls;
      return this;
    }

    /** TLS, trusting this CA bundle (PEM) instead of the system roots. */
    public Builder caFile(String path) {
      this.caFile = path;
      return this;
    }

    /** mTLS: present this certificate and key. */
    public Builder clientCert(String certFile, String keyFile) {
      this.clientCertFile = certFile;
      this.clientKeyFile = keyFile;
      return this;
    }

    /** Sends {@code authorization: Bearer <token>} on every call (needs TLS). */
    public Builder token(String token) {
      this.token = token;
      return this;
    }

    public Builder allowTokenOverPlaintext(boolean allow) {
      this.allowTokenOverPlaintext = allow;
      return this;
    }

    public Builder serverNameOverride(String name) {
      this.serverNameOverride = name;
      return this;
    }

    public Builder affinity(Affinity affinity) {
      this.affinity = affinity;
      return this;
    }

    /** Tests: resolve the target's host with this instead of DNS. */
    Builder resolver(Replicas.Resolver resolver) {
      this.resolver = resolver;
      return this;
    }

    public FetchpoolClient build() {
      return new FetchpoolClient(this);
    }
  }
}

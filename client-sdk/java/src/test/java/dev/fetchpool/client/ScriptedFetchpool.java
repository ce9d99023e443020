package dev.fetchpool.client;

import dev.fetchpool.v1.FetchPoolGrpc;
import dev.fetchpool.v1.FetchRequest;
import dev.fetchpool.v1.FetchResponse;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A FetchPool server on 127.0.0.1 whose Fetch answers follow a script (failures with a
 * reason, or OK), recording each call's fetchpool-pool-key header: to test retries exactly.
 */
final class ScriptedFetchpool implements AutoCloseable {
  private final Deque<Status> script = new ArrayDeque<>();
  private final List<String> poolKeys = new ArrayList<>();
  private final Server server;

  ScriptedFetchpool() throws IOException {
    ServerInterceptor recordHeaders = new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        synchronized (ScriptedFetchpool.this) {
          poolKeys.add(headers.get(RetryingCall.POOL_KEY_HEADER));
        }
        return next.startCall(call, headers);
      }
    };
    server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .addService(ServerInterceptors.intercept(new Service(), recordHeaders))
        .build()
        .start();
  }

  String target() {
    return "127.0.0.1:" + server.getPort();
  }

  /** The next calls fail with these statuses, in order; the description "reason:X" sets a reason. */
  synchronized ScriptedFetchpool thenFail(Status.Code code, String reason, int times) {
    for (int i = 0; i < times; i++) script.add(Status.fromCode(code).withDescription("reason:" + reason));
    return this;
  }

  synchronized int calls() {
    return poolKeys.size();
  }

  synchronized List<String> poolKeys() {
    return new ArrayList<>(poolKeys);
  }

  private synchronized Status next() {
    return script.isEmpty() ? Status.OK : script.poll();
  }

  private final class Service extends FetchPoolGrpc.FetchPoolImplBase {
    @Override
    public void fetch(FetchRequest request, StreamObserver<FetchResponse> responses) {
      Status status = next();
      if (status.isOk()) {
        responses.onNext(FetchResponse.newBuilder().setStatus(200).setPool(
            String.valueOf(PoolKey.of(request.getUrl()))).build());
        responses.onCompleted();
        return;
      }
      String reason = status.getDescription().substring("reason:".length());
      Metadata trailers = new Metadata();
      if (!reason.isEmpty()) trailers.put(FetchpoolException.REASON_KEY, reason);
      responses.onError(status.withDescription(reason + ": scripted").asRuntimeException(trailers));
    }
  }

  @Override
  public void close() throws InterruptedException {
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

}

package dev.fetchpool.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import dev.fetchpool.v1.FetchRequest;
import dev.fetchpool.v1.FetchResponse;
import dev.fetchpool.v1.HostPoolStats;
import dev.fetchpool.v1.StatsResponse;
import io.grpc.Status.Code;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Against a real fetchpoold and test origin (tests/client-sdk/java/test.sh starts them). */
class LiveTest {
  private static String origin;
  private static FetchpoolClient client;

  @BeforeAll
  static void connect() {
    String target = System.getenv("FETCHPOOL_TARGET");
    origin = System.getenv("FETCHPOOL_ORIGIN");
    assumeTrue(target != null && origin != null, "FETCHPOOL_TARGET and FETCHPOOL_ORIGIN not set");
    client = FetchpoolClient.builder(target).defaultTimeout(Duration.ofSeconds(10)).build();
  }

  @AfterAll
  static void disconnect() {
    if (client != null) client.close();
  }

  private static FetchRequest echo(String body) {
    return FetchRequest.newBuilder().setMethod("POST").setUrl(origin + "/echo")
        .setBody(ByteString.copyFromUtf8(body)).build();
  }

  @Test
  void getReturnsTheResponseAndItsPoolKey() {
    FetchResponse response = client.get(origin + "/status/200");
    assertEquals(200, response.getStatus());
    assertEquals(PoolKey.of(origin), response.getPool());
  }

  @Test
  void postSendsTheBody() {
    assertEquals("hello", client.fetch(echo("hello")).getBody().toStringUtf8());
  }

  @Test
  void upstreamStatusIsAResponseNotAnError() {
    assertEquals(404, client.get(origin + "/status/404").getStatus());
    assertEquals(503, client.get(origin + "/status/503").getStatus());
  }

  @Test
  void errorsCarryCodeReasonAndMessage() {
    FetchpoolException e = assertThrows(FetchpoolException.class, () -> client.get("ftp://example.com/"));
    assertEquals(Code.INVALID_ARGUMENT, e.getCode());
    assertEquals("UNSUPPORTED_SCHEME", e.getReason());
    assertTrue(e.getMessage().contains("ftp"), e.getMessage());
    e = assertThrows(FetchpoolException.class, () -> client.get("no scheme here"));
    assertEquals("INVALID_URL", e.getReason());
  }

  @Test
  void perCallTimeoutIsTheDeadline() {
    long start = System.nanoTime();
    FetchpoolException e = assertThrows(FetchpoolException.class, () -> client.fetch(
        FetchRequest.newBuilder().setUrl(origin + "/sleep?ms=3000").build(), Duration.ofMillis(300)));
    assertEquals(Code.DEADLINE_EXCEEDED, e.getCode());
    assertTrue(System.nanoTime() - start < 2_000_000_000L, "ended near the 300 ms deadline");
  }

  @Test
  void asyncFetchCompletesAndCancelCancelsTheCall() throws Exception {
    CompletableFuture<FetchResponse> ok = client.fetchAsync(echo("async"));
    assertEquals("async", ok.get(10, TimeUnit.SECONDS).getBody().toStringUtf8());

    CompletableFuture<FetchResponse> slow = client.fetchAsync(
        FetchRequest.newBuilder().setUrl(origin + "/sleep?ms=5000").build());
    Thread.sleep(200);
    long start = System.nanoTime();
    assertTrue(slow.cancel(true));
    assertThrows(CancellationException.class, slow::get);
    assertTrue(System.nanoTime() - start < 1_000_000_000L);
    // The channel still works after a cancelled call.
    assertEquals(200, client.get(origin + "/status/200").getStatus());
  }

  @Test
  void asyncErrorIsAFetchpoolException() {
    CompletableFuture<FetchResponse> bad = client.fetchAsync(
        FetchRequest.newBuilder().setUrl("ftp://example.com/").build());
    ExecutionException e = assertThrows(ExecutionException.class, () -> bad.get(10, TimeUnit.SECONDS));
    assertEquals("UNSUPPORTED_SCHEME", ((FetchpoolException) e.getCause()).getReason());
  }

  @Test
  void statsShowTheOriginsPool() {
    client.get(origin + "/status/200");
    String key = PoolKey.of(origin);
    StatsResponse all = client.stats();
    assertTrue(all.getPoolsList().stream().anyMatch(p -> p.getHost().equals(key)), all.toString());
    StatsResponse one = client.stats(key);
    assertEquals(1, one.getPoolsCount());
    assertTrue(one.getPools(0).getRequestsTotal() >= 1);
  }

  @Test
  void watchStatsStreamsUntilClosed() {
    client.get(origin + "/status/200");
    long start = System.nanoTime();
    try (StatsWatch watch = client.watchStats(Duration.ofMillis(100), PoolKey.of(origin))) {
      assertTrue(watch.hasNext());
      assertEquals(PoolKey.of(origin), watch.next().getPools(0).getHost());
      assertTrue(watch.hasNext());
      watch.next();
      watch.close();
      assertFalse(watch.hasNext());
    }
    assertTrue(System.nanoTime() - start < 3_000_000_000L);
    try (StatsWatch watch = client.watchStats(Duration.ofMillis(100), "")) {
      assertEquals(3, watch.stream().limit(3).count());
    }
  }

  @Test
  void streamMatchesAnswersById() throws Exception {
    List<CompletableFuture<FetchResponse>> futures = new ArrayList<>();
    try (FetchStream stream = client.openStream(8)) {
      for (int i = 0; i < 60; i++) futures.add(stream.submit(echo("s" + i)));
      CompletableFuture<FetchResponse> bad =
          stream.submit(FetchRequest.newBuilder().setUrl("ftp://example.com/").build());
      ExecutionException e = assertThrows(ExecutionException.class, () -> bad.get(10, TimeUnit.SECONDS));
      assertEquals("UNSUPPORTED_SCHEME", ((FetchpoolException) e.getCause()).getReason());
      FetchResponse own = stream.submit(echo("mine").toBuilder().setId("my-id").build()).get();
      assertEquals("my-id", own.getId());
    }
    Set<String> ids = new HashSet<>();
    for (int i = 0; i < 60; i++) {
      FetchResponse r = futures.get(i).get(0, TimeUnit.SECONDS); // close() waited for them
      assertEquals("s" + i, r.getBody().toStringUtf8());
      assertTrue(ids.add(r.getId()), "unique ids");
    }
  }

  @Test
  void streamSubmitBlocksWhileMaxInFlightAreUnanswered() throws Exception {
    try (FetchStream stream = client.openStream(2)) {
      FetchRequest slow = FetchRequest.newBuilder().setUrl(origin + "/sleep?ms=600").build();
      stream.submit(slow);
      stream.submit(slow);
      long start = System.nanoTime();
      FetchResponse third = stream.submit(echo("third")).get(10, TimeUnit.SECONDS);
      long waitedMs = (System.nanoTime() - start) / 1_000_000;
      assertEquals("third", third.getBody().toStringUtf8());
      assertTrue(waitedMs >= 400, "submit waited for a slot: " + waitedMs + " ms");
    }
  }

  @Test
  void affinitySendsEachOriginToItsRingReplica() throws Exception {
    String port = System.getenv("FETCHPOOL_REPLICA_PORT");
    String origins = System.getenv("FETCHPOOL_AFFINITY_ORIGINS");
    assumeTrue(port != null && origins != null, "no replicas started");
    List<String> members = List.of("127.0.0.2:" + port, "127.0.0.3:" + port);
    Ring ring = new Ring(members);
    try (FetchpoolClient affine = FetchpoolClient.builder("fetchpool-replicas.test:" + port)
            .affinity(Affinity.HOST)
            .resolver(host -> new java.net.InetAddress[] {
                java.net.InetAddress.getByName("127.0.0.2"), java.net.InetAddress.getByName("127.0.0.3")})
            .build();
        FetchpoolClient a = FetchpoolClient.builder(members.get(0)).build();
        FetchpoolClient b = FetchpoolClient.builder(members.get(1)).build()) {
      Set<String> picked = new HashSet<>();
      for (String url : origins.split(" ")) {
        for (int i = 0; i < 3; i++) assertEquals(200, affine.get(url + "/status/200").getStatus());
        try (FetchStream stream = affine.openStream()) {
          assertEquals(200, stream.submit(FetchRequest.newBuilder().setUrl(url + "/status/200").build())
              .get(10, TimeUnit.SECONDS).getStatus());
        }
        String key = PoolKey.of(url);
        String member = ring.pick(key);
        picked.add(member);
        FetchpoolClient owner = member.equals(members.get(0)) ? a : b;
        FetchpoolClient other = owner == a ? b : a;
        List<HostPoolStats> owned = owner.stats(key).getPoolsList();
        assertEquals(1, owned.size(), key + " on " + member);
        assertEquals(4, owned.get(0).getRequestsTotal(), key + " all on " + member);
        assertTrue(other.stats().getPoolsList().stream().noneMatch(p -> p.getHost().equals(key)),
            key + " never on the other replica");
        // stats(host) with affinity asks the replica that owns the pool.
        assertEquals(4, affine.stats(key).getPools(0).getRequestsTotal());
      }
      assertEquals(2, picked.size(), "the origins spread over both replicas: " + picked);
    }
  }
}

package dev.fetchpool.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fetchpool.v1.FetchRequest;
import io.grpc.Status.Code;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The retry rules end to end against a scripted server: who is sent again, and how often. */
class RetryingCallTest {
  private static final String URL = "http://Origin.Example/x";

  private static FetchRequest post() {
    return FetchRequest.newBuilder().setMethod("POST").setUrl(URL)
        .setBody(ByteString.copyFromUtf8("once")).build();
  }

  @Test
  void getIsRetriedAfterABrokenConnection() throws Exception {
    try (ScriptedFetchpool server = new ScriptedFetchpool().thenFail(Code.UNAVAILABLE, "", 2);
        FetchpoolClient client = FetchpoolClient.builder(server.target()).build()) {
      assertEquals(200, client.get(URL).getStatus());
      assertEquals(3, server.calls());
      assertEquals(List.of("http://origin.example:80", "http://origin.example:80",
          "http://origin.example:80"), server.poolKeys());
    }
  }

  @Test
  void postIsNeverSentTwiceAfterABrokenConnection() throws Exception {
    try (ScriptedFetchpool server = new ScriptedFetchpool().thenFail(Code.UNAVAILABLE, "", 1);
        FetchpoolClient client = FetchpoolClient.builder(server.target()).build()) {
      FetchpoolException e = assertThrows(FetchpoolException.class, () -> client.fetch(post()));
      assertEquals(Code.UNAVAILABLE, e.getCode());
      assertEquals("", e.getReason());
      assertEquals(1, server.calls());
    }
  }

  @Test
  void idempotentPostIsRetried() throws Exception {
    try (ScriptedFetchpool server = new ScriptedFetchpool().thenFail(Code.UNAVAILABLE, "", 1);
        FetchpoolClient client = FetchpoolClient.builder(server.target()).build()) {
      assertEquals(200, client.fetch(post().toBuilder().setIdempotent(true).build()).getStatus());
      assertEquals(2, server.calls());
    }
  }

  @Test
  void postIsRetriedWhenNothingReachedTheOrigin() throws Exception {
    try (ScriptedFetchpool server = new ScriptedFetchpool()
            .thenFail(Code.UNAVAILABLE, "SHUTTING_DOWN", 1)
            .thenFail(Code.RESOURCE_EXHAUSTED, "QUEUE_FULL", 1);
        FetchpoolClient client = FetchpoolClient.builder(server.target()).build()) {
      assertEquals(200, client.fetch(post()).getStatus());
      assertEquals(3, server.calls());
    }
  }

  @Test
  void otherReasonsAreNeverRetried() throws Exception {
    try (ScriptedFetchpool server = new ScriptedFetchpool().thenFail(Code.UNAVAILABLE, "CONNECTION_RESET", 1);
        FetchpoolClient client = FetchpoolClient.builder(server.target()).build()) {
      FetchpoolException e = assertThrows(FetchpoolException.class, () -> client.get(URL));
      assertEquals("CONNECTION_RESET", e.getReason());
      assertTrue(e.getMessage().contains("CONNECTION_RESET"), e.getMessage());
      assertEquals(1, server.calls());
    }
  }

  @Test
  void atMostFiveAttemptsThenTheBudgetStopsRetries() throws Exception {
    try (ScriptedFetchpool server = new ScriptedFetchpool().thenFail(Code.UNAVAILABLE, "", 20);
        FetchpoolClient client = FetchpoolClient.builder(server.target()).build()) {
      assertThrows(FetchpoolException.class, () -> client.get(URL));
      assertEquals(5, server.calls(), "the first and 4 retries");
      // The bucket went 10 -> 5: no retry now until successes refill it.
      assertThrows(FetchpoolException.class, () -> client.get(URL));
      assertEquals(6, server.calls());
    }
  }

  @Test
  void retriesStayInsideTheDeadline() throws Exception {
    try (ScriptedFetchpool server = new ScriptedFetchpool().thenFail(Code.UNAVAILABLE, "", 20);
        FetchpoolClient client = FetchpoolClient.builder(server.target()).build()) {
      long start = System.nanoTime();
      assertThrows(FetchpoolException.class,
          () -> client.fetch(FetchRequest.newBuilder().setUrl(URL).build(), Duration.ofMillis(400)));
      assertTrue(System.nanoTime() - start < 450_000_000L, "returned within the 400 ms deadline");
      assertTrue(server.calls() >= 2 && server.calls() <= 3, "calls: " + server.calls());
    }
  }

  @Test
  void unparseableUrlIsSentWithoutAPoolKey() throws Exception {
    try (ScriptedFetchpool server = new ScriptedFetchpool();
        FetchpoolClient client = FetchpoolClient.builder(server.target()).build()) {
      client.get("not a url");
      assertEquals(java.util.Collections.singletonList(null), server.poolKeys());
    }
  }

  @Test
  void tokenOverPlaintextIsRefusedUnlessAllowed() throws Exception {
    assertThrows(IllegalArgumentException.class,
        () -> FetchpoolClient.builder("127.0.0.1:1").token("t").build());
    FetchpoolClient.builder("127.0.0.1:1").token("t").allowTokenOverPlaintext(true).build().close();
  }

  @Test
  void brokenStreamFailsItsFetchesAndTheNextSubmitOpensANewOne() throws Exception {
    // The scripted server has no FetchStream: each stream it is offered fails UNIMPLEMENTED.
    try (ScriptedFetchpool server = new ScriptedFetchpool();
        FetchpoolClient client = FetchpoolClient.builder(server.target()).build();
        FetchStream stream = client.openStream(1)) {
      for (int i = 0; i < 2; i++) {
        java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class,
            () -> stream.submit(FetchRequest.newBuilder().setUrl(URL).build()).get(5, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(Code.UNIMPLEMENTED, ((FetchpoolException) e.getCause()).getCode());
      }
      assertEquals(2, server.calls(), "one stream per submit after each broke");
    }
  }
}

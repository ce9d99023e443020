package dev.fetchpool.interop;

import com.google.protobuf.ByteString;
import dev.fetchpool.client.FetchStream;
import dev.fetchpool.client.FetchpoolClient;
import dev.fetchpool.client.FetchpoolException;
import dev.fetchpool.client.PoolKey;
import dev.fetchpool.v1.FetchRequest;
import dev.fetchpool.v1.FetchResponse;
import dev.fetchpool.v1.HostPoolStats;
import dev.fetchpool.v1.StatsResponse;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The interop scenario (tests/client-sdk/interop): each step through the SDK's public API
 * only, one JSON line per step appended to FETCHPOOL_OUT. Exits 0 whatever the steps found.
 */
public final class InteropRunner {
  private final String sdk = env("FETCHPOOL_SDK", "java");
  private final String target = env("FETCHPOOL_TARGET", null);
  private final String origin = env("FETCHPOOL_ORIGIN", null);
  private final Path out = Path.of(env("FETCHPOOL_OUT", null));
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  public static void main(String[] args) throws Exception {
    new InteropRunner().run();
    System.exit(0);
  }

  private static String env(String name, String fallback) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) {
      if (fallback == null) throw new IllegalStateException(name + " is not set");
      return fallback;
    }
    return value;
  }

  private void run() throws Exception {
    try (FetchpoolClient client = FetchpoolClient.builder(target).build()) {
      step("get", () -> {
        FetchResponse r = client.get(origin + "/status/200");
        return ok(r).put("pool_key_match", PoolKey.of(origin + "/status/200").equals(r.getPool()));
      });
      step("post", () -> {
        FetchResponse r = client.fetch(post(origin + "/echo", "interop"));
        return ok(r).put("body", r.getBody().toStringUtf8());
      });
      step("not_found", () -> ok(client.get(origin + "/status/404")));
      waitTimeout(client);
      step("denied", () -> ok(client.get(env("FETCHPOOL_DENIED_URL", null))));
      poolKeys(client);
      stream(client);
      step("stats", () -> {
        StatsResponse stats = client.stats();
        String key = PoolKey.of(origin);
        boolean found = stats.getPoolsList().stream().map(HostPoolStats::getHost).anyMatch(key::equals);
        return line("OK", "", 0).put("pool_found", found);
      });
      String ca = env("FETCHPOOL_CA_FILE", null);
      step("tls_token", () -> tlsGet(FetchpoolClient.builder(env("FETCHPOOL_TLS_TARGET", null))
          .caFile(ca).token(env("FETCHPOOL_TOKEN", null))));
      step("tls_bad_token", () -> tlsGet(FetchpoolClient.builder(env("FETCHPOOL_TLS_TARGET", null))
          .caFile(ca).token("wrong-token")));
      step("mtls", () -> tlsGet(FetchpoolClient.builder(env("FETCHPOOL_MTLS_TARGET", null))
          .caFile(ca).clientCert(env("FETCHPOOL_CLIENT_CERT", null), env("FETCHPOOL_CLIENT_KEY", null))));
      step("restart_get", () -> {
        restart();
        return ok(client.get(origin + "/status/200"));
      });
      postNotReplayed(client);
    }
  }

  private interface Step {
    JsonLine run() throws Exception;
  }

  private void step(String name, Step step) throws IOException {
    JsonLine line;
    try {
      line = step.run();
    } catch (FetchpoolException e) {
      line = failed(e);
    } catch (Exception e) {
      line = line("UNKNOWN", "", 0).put("error", e.toString());
    }
    JsonLine withStep = new JsonLine().put("sdk", sdk).put("step", name);
    Files.writeString(out, withStep.toString().replaceFirst("\\}$", "")
        + ", " + line.toString().substring(1) + "\n", StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

  private static JsonLine line(String code, String reason, int status) {
    return new JsonLine().put("code", code).put("reason", reason).put("status", status);
  }

  private static JsonLine ok(FetchResponse r) {
    return line("OK", "", r.getStatus());
  }

  private static JsonLine failed(FetchpoolException e) {
    return line(e.getCode().name(), e.getReason(), 0);
  }

  private static FetchRequest post(String url, String body) {
    return FetchRequest.newBuilder().setMethod("POST").setUrl(url)
        .setBody(ByteString.copyFromUtf8(body)).build();
  }

  private static FetchpoolException unwrap(ExecutionException e) {
    Throwable cause = e.getCause();
    if (cause instanceof FetchpoolException) return (FetchpoolException) cause;
    throw new IllegalStateException("unexpected failure", cause);
  }

  private void waitTimeout(FetchpoolClient client) throws IOException {
    String slow = env("FETCHPOOL_SLOW_ORIGIN", null);
    CompletableFuture<FetchResponse> first =
        client.fetchAsync(FetchRequest.newBuilder().setUrl(slow + "/sleep?ms=1500").build());
    step("wait_timeout", () -> {
      Thread.sleep(300);
      FetchRequest second = FetchRequest.newBuilder().setUrl(slow + "/status/200")
          .setWaitTimeout(com.google.protobuf.Duration.newBuilder().setNanos(200_000_000)).build();
      JsonLine line;
      try {
        line = ok(client.fetch(second));
      } catch (FetchpoolException e) {
        line = failed(e);
      }
      int firstStatus;
      try {
        firstStatus = first.get().getStatus();
      } catch (ExecutionException e) {
        firstStatus = 0;
      }
      return line.put("first_status", firstStatus);
    });
  }

  private void poolKeys(FetchpoolClient client) throws IOException {
    step("pool_keys", () -> {
      List<String> mismatches = new ArrayList<>();
      String[] urls = env("FETCHPOOL_KEY_URLS", null).trim().split("\\s+");
      for (String url : urls) {
        String key = PoolKey.of(url);
        String pool;
        try {
          pool = client.get(url).getPool();
        } catch (FetchpoolException e) {
          pool = "error:" + e.getCode() + "/" + e.getReason();
        }
        if (key == null || !key.equals(pool)) mismatches.add(url + " " + key + " " + pool);
      }
      return line("OK", "", 0).put("checked", urls.length).put("mismatches", mismatches);
    });
  }

  private void stream(FetchpoolClient client) throws IOException {
    step("stream", () -> {
      List<CompletableFuture<FetchResponse>> futures = new ArrayList<>();
      try (FetchStream stream = client.openStream()) {
        for (int i = 0; i < 100; i++) futures.add(stream.submit(post(origin + "/echo", "n" + i)));
        int ok = 0;
        int matched = 0;
        for (int i = 0; i < 100; i++) {
          try {
            FetchResponse r = futures.get(i).get();
            if (r.getStatus() == 200) ok++;
            if (r.getBody().toStringUtf8().equals("n" + i)) matched++;
          } catch (ExecutionException e) {
            // counted as neither
          }
        }
        return line("OK", "", 200).put("ok", ok).put("matched", matched);
      }
    });
  }

  private JsonLine tlsGet(FetchpoolClient.Builder builder) {
    try (FetchpoolClient client = builder.build()) {
      return ok(client.get(origin + "/status/200"));
    }
  }

  private void restart() throws IOException, InterruptedException {
    Process p = new ProcessBuilder("sh", "-c", env("FETCHPOOL_RESTART", null))
        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    p.waitFor();
  }

  private String hits(String key) throws IOException, InterruptedException {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(origin + "/hits?key=" + key))
        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
    return r.body().trim();
  }

  private void postNotReplayed(FetchpoolClient client) throws IOException {
    step("post_not_replayed", () -> {
      String key = sdk + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1);
      CompletableFuture<FetchResponse> post =
          client.fetchAsync(post(origin + "/count?key=" + key + "&ms=3000", "once"));
      long until = System.nanoTime() + 5_000_000_000L;
      while (System.nanoTime() < until && !hits(key).equals("1")) Thread.sleep(20);
      restart();
      JsonLine line;
      try {
        line = ok(post.get());
      } catch (ExecutionException e) {
        line = failed(unwrap(e));
      }
      long back = System.nanoTime() + 10_000_000_000L;
      while (System.nanoTime() < back) {
        try {
          client.fetch(FetchRequest.newBuilder().setUrl(origin + "/status/200").build(), Duration.ofSeconds(2));
          break;
        } catch (FetchpoolException e) {
          Thread.sleep(100);
        }
      }
      String hits = hits(key);
      return line.put("origin_hits", hits.matches("\\d+") ? Integer.parseInt(hits) : -1);
    });
  }
}

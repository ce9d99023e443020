package dev.fetchpool.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.grpc.Status.Code;
import java.time.Duration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The credentials options against fetchpoold with TLS and tokens, and with mTLS
 * (tests/client-sdk/java/test.sh starts them; certificates from make_test_certs.sh:
 * server SAN IP:127.0.0.1 and DNS:localhost).
 */
class TlsLiveTest {
  private static String origin;
  private static String tlsTarget;
  private static String mtlsTarget;
  private static String certs;
  private static String token;

  @BeforeAll
  static void environment() {
    origin = System.getenv("FETCHPOOL_ORIGIN");
    tlsTarget = System.getenv("FETCHPOOL_TLS_TARGET");
    mtlsTarget = System.getenv("FETCHPOOL_MTLS_TARGET");
    certs = System.getenv("FETCHPOOL_CERTS");
    token = System.getenv("FETCHPOOL_TOKEN");
    assumeTrue(origin != null && tlsTarget != null && mtlsTarget != null && certs != null
        && token != null, "test.sh's TLS servers are not running");
  }

  private static int status(FetchpoolClient.Builder builder) {
    try (FetchpoolClient client = builder.defaultTimeout(Duration.ofSeconds(10)).build()) {
      return client.get(origin + "/status/200").getStatus();
    }
  }

  private static FetchpoolException failure(FetchpoolClient.Builder builder) {
    return assertThrows(FetchpoolException.class, () -> status(builder));
  }

  @Test
  void tokenOverTls() {
    assertEquals(200, status(FetchpoolClient.builder(tlsTarget).caFile(certs + "/ca.pem").token(token)));
  }

  @Test
  void wrongOrMissingTokenIsUnauthenticated() {
    FetchpoolException e = failure(
        FetchpoolClient.builder(tlsTarget).caFile(certs + "/ca.pem").token("wrong-token"));
    assertEquals(Code.UNAUTHENTICATED, e.getCode());
    assertEquals("UNAUTHENTICATED", e.getReason());
    assertEquals(Code.UNAUTHENTICATED,
        failure(FetchpoolClient.builder(tlsTarget).caFile(certs + "/ca.pem")).getCode());
  }

  @Test
  void serverNameOverrideIsWhatTheCertificateMustCarry() {
    assertEquals(200, status(FetchpoolClient.builder(tlsTarget).caFile(certs + "/ca.pem")
        .token(token).serverNameOverride("localhost")));
    FetchpoolException e = failure(FetchpoolClient.builder(tlsTarget).caFile(certs + "/ca.pem")
        .token(token).serverNameOverride("not-in-the-cert.example"));
    assertEquals(Code.UNAVAILABLE, e.getCode());
    assertEquals("", e.getReason());
  }

  @Test
  void untrustedServerFails() {
    // The system roots do not know the test CA.
    assertEquals(Code.UNAVAILABLE, failure(FetchpoolClient.builder(tlsTarget).tls(true).token(token)).getCode());
  }

  @Test
  void clientCertificate() {
    assertEquals(200, status(FetchpoolClient.builder(mtlsTarget).caFile(certs + "/ca.pem")
        .clientCert(certs + "/spiffe.pem", certs + "/spiffe.key")));
    FetchpoolException e = failure(FetchpoolClient.builder(mtlsTarget).caFile(certs + "/ca.pem"));
    // Without a certificate the handshake or the call is refused.
    assertTrue(e.getCode() == Code.UNAVAILABLE || e.getCode() == Code.UNAUTHENTICATED, e.toString());
  }
}

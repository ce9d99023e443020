package dev.fetchpool.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.InetAddress;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Host affinity's membership: the resolved addresses as ring members, kept up to date. */
class ReplicasTest {
  private static InetAddress[] addresses(String... ips) throws Exception {
    InetAddress[] out = new InetAddress[ips.length];
    for (int i = 0; i < ips.length; i++) out[i] = InetAddress.getByName(ips[i]);
    return out;
  }

  @Test
  void membersFollowTheResolvedAddresses() throws Exception {
    AtomicReference<InetAddress[]> dns = new AtomicReference<>(addresses("10.0.0.3", "10.0.0.1", "::1"));
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    ChannelFactory factory = new ChannelFactory(FetchpoolClient.builder("unused:1"));
    try (Replicas replicas = new Replicas(factory, host -> dns.get(), "fetchpool.test:50051", scheduler)) {
      assertEquals(List.of("10.0.0.1:50051", "10.0.0.3:50051", "[::1]:50051"), replicas.members());
      Ring ring = new Ring(replicas.members());
      for (String key : List.of("http://a:80", "http://b:80", "https://c:443")) {
        assertEquals(ring.pick(key), replicas.memberFor(key));
        assertNotNull(replicas.channelFor(key));
      }

      dns.set(addresses("10.0.0.1", "10.0.0.2"));
      replicas.resolve();
      assertEquals(List.of("10.0.0.1:50051", "10.0.0.2:50051"), replicas.members());
      assertEquals(new Ring(replicas.members()).pick("http://a:80"), replicas.memberFor("http://a:80"));

      // A failed lookup keeps the members it had.
      dns.set(null);
      replicas.resolve();
      assertEquals(2, replicas.members().size());
    } finally {
      scheduler.shutdownNow();
    }
  }

  @Test
  void ipv6MembersAreBracketedCanonicalText() throws Exception {
    assertEquals("[2001:db8::a]:443",
        Replicas.member(InetAddress.getByName("2001:DB8:0:0:0:0:0:A"), 443));
    assertEquals("127.0.0.2:1", Replicas.member(InetAddress.getByName("127.0.0.2"), 1));
  }

  @Test
  void affinityNeedsATargetItCanResolve() {
    for (String target : new String[] {"unix:/run/fetchpool.sock", "fetchpoold", "dns:///fetchpoold"}) {
      assertThrows(IllegalArgumentException.class,
          () -> FetchpoolClient.builder(target).affinity(Affinity.HOST).build(), target);
    }
    for (String target : new String[] {"127.0.0.1:1", "dns:///127.0.0.1:1", "[::1]:1"}) {
      FetchpoolClient.builder(target).affinity(Affinity.HOST).build().close();
    }
  }
}

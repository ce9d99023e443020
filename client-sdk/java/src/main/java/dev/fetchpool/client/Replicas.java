package dev.fetchpool.client;

import io.grpc.Channel;
import io.grpc.ManagedChannel;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Host affinity with fetchpool-ring-v1: one channel per resolved address of the target, a
 * ring over them, the name resolved again every 30 s and after a call fails UNAVAILABLE with
 * no reason. (grpc-java's ring_hash reads requestHashHeader only behind the experimental
 * GRPC_EXPERIMENTAL_RING_HASH_SET_REQUEST_HASH_KEY flag, off by default, so it is not used.)
 */
final class Replicas implements AutoCloseable {
  static final long RESOLVE_EVERY_SECONDS = 30;

  /** Looks a name up (InetAddress.getAllByName; tests put fixed lists here). */
  interface Resolver {
    InetAddress[] resolve(String host) throws UnknownHostException;
  }

  private final ChannelFactory factory;
  private final Resolver resolver;
  private final String host;
  private final int port;
  private final AtomicBoolean resolving = new AtomicBoolean();
  private final ScheduledExecutorService scheduler;
  private volatile State state = new State(new Ring(List.of()), Map.of());

  private static final class State {
    final Ring ring;
    final Map<String, ManagedChannel> channels; // member ("ip:port") -> channel
    final List<String> members;

    State(Ring ring, Map<String, ManagedChannel> channels) {
      this.ring = ring;
      this.channels = channels;
      this.members = new ArrayList<>(channels.keySet());
      this.members.sort(null);
    }
  }

  /** {@code hostPort} is the target without a scheme: "host:port" or "[v6]:port". */
  Replicas(ChannelFactory factory, Resolver resolver, String hostPort,
      ScheduledExecutorService scheduler) {
    this.factory = factory;
    this.resolver = resolver;
    int colon = hostPort.lastIndexOf(':');
    if (colon <= 0 || hostPort.endsWith("]")) {
      throw new IllegalArgumentException("affinity needs a host:port target, not " + hostPort);
    }
    String h = hostPort.substring(0, colon);
    this.host = h.startsWith("[") ? h.substring(1, h.length() - 1) : h;
    this.port = Integer.parseInt(hostPort.substring(colon + 1));
    this.scheduler = scheduler;
    resolve();
    scheduler.scheduleWithFixedDelay(
        this::resolve, RESOLVE_EVERY_SECONDS, RESOLVE_EVERY_SECONDS, TimeUnit.SECONDS);
  }

  static String member(InetAddress address, int port) {
    String ip = address.getHostAddress();
    int zone = ip.indexOf('%');
    if (zone >= 0) ip = ip.substring(0, zone);
    if (ip.indexOf(':') >= 0) ip = "[" + Ipv6Text.format(address.getAddress()) + "]";
    return ip + ":" + port;
  }

  /** Resolves the name again and rebuilds the ring; keeps the old one when DNS fails. */
  void resolve() {
    if (!resolving.compareAndSet(false, true)) return;
    try {
      InetAddress[] addresses;
      try {
        addresses = resolver.resolve(host);
      } catch (UnknownHostException | RuntimeException e) {
        return; // keep the replicas we had
      }
      if (addresses == null || addresses.length == 0) return;
      synchronized (this) {
        State old = state;
        Map<String, ManagedChannel> channels = new HashMap<>();
        for (InetAddress address : addresses) {
          String member = member(address, port);
          ManagedChannel channel = old.channels.get(member);
          if (channel == null) {
            channel = factory.forAddress(address.getHostAddress(), port, authority());
          }
          channels.put(member, channel);
        }
        state = new State(new Ring(channels.keySet()), channels);
        for (Map.Entry<String, ManagedChannel> e : old.channels.entrySet()) {
          if (!channels.containsKey(e.getKey())) e.getValue().shutdown();
        }
      }
    } finally {
      resolving.set(false);
    }
  }

  /** Resolves again in the background (after a failure that suggests a replica is gone). */
  void resolveSoon() {
    scheduler.execute(this::resolve);
  }

  private String authority() {
    return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
  }

  /** The member a pool key goes to; any member when the key is null. */
  String memberFor(String poolKey) {
    State s = state;
    if (s.members.isEmpty()) return null;
    if (poolKey == null) {
      return s.members.get(ThreadLocalRandom.current().nextInt(s.members.size()));
    }
    return s.ring.pick(poolKey);
  }

  Channel channelFor(String poolKey) {
    State s = state;
    String member = s.members.isEmpty() ? null
        : poolKey == null ? s.members.get(ThreadLocalRandom.current().nextInt(s.members.size()))
        : s.ring.pick(poolKey);
    if (member == null) {
      throw new FetchpoolException(
          io.grpc.Status.Code.UNAVAILABLE, "", "no address resolved for " + authority());
    }
    return s.channels.get(member);
  }

  List<String> members() {
    return state.members;
  }

  @Override
  public synchronized void close() {
    for (ManagedChannel channel : state.channels.values()) channel.shutdown();
  }
}

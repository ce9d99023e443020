package dev.fetchpool.client;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.TlsChannelCredentials;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;

/** Builds the client's channels with its credentials, token and balancing policy. */
final class ChannelFactory {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final Map<String, ?> ROUND_ROBIN_CONFIG =
      Map.of("loadBalancingConfig", List.of(Map.of("round_robin", Map.of())));

  private final ChannelCredentials credentials;
  private final String token;
  private final String serverNameOverride;

  ChannelFactory(FetchpoolClient.Builder options) {
    boolean tls = options.tls || options.caFile != null || options.clientCertFile != null;
    if (options.token != null && !tls && !options.allowTokenOverPlaintext) {
      throw new IllegalArgumentException(
          "a token over plaintext would be readable on the wire; set caFile or tls(true) for TLS, or "
              + "allowTokenOverPlaintext(true) for tests and sidecars");
    }
    if ((options.clientCertFile == null) != (options.clientKeyFile == null)) {
      throw new IllegalArgumentException("clientCert needs both the certificate and the key file");
    }
    this.credentials = tls ? tlsCredentials(options) : InsecureChannelCredentials.create();
    this.token = options.token;
    this.serverNameOverride = options.serverNameOverride;
  }

  private static ChannelCredentials tlsCredentials(FetchpoolClient.Builder options) {
    try {
      TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
      if (options.caFile != null) tls.trustManager(new File(options.caFile));
      if (options.clientCertFile != null) {
        tls.keyManager(new File(options.clientCertFile), new File(options.clientKeyFile));
      }
      return tls.build();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the TLS files: " + e.getMessage(), e);
    }
  }

  /** A channel to a gRPC target, round_robin over its addresses. */
  ManagedChannel forTarget(String target) {
    return configure(Grpc.newChannelBuilder(target, credentials)).build();
  }

  /**
   * A channel to one resolved address; {@code authority} (the target's host:port) is what TLS
   * checks the certificate against unless serverNameOverride says otherwise.
   */
  ManagedChannel forAddress(String ip, int port, String authority) {
    ManagedChannelBuilder<?> builder = Grpc.newChannelBuilderForAddress(ip, port, credentials);
    if (serverNameOverride == null) builder.overrideAuthority(authority);
    return configure(builder).build();
  }

  private ManagedChannelBuilder<?> configure(ManagedChannelBuilder<?> builder) {
    builder.defaultServiceConfig(ROUND_ROBIN_CONFIG);
    if (serverNameOverride != null) builder.overrideAuthority(serverNameOverride);
    if (token != null) builder.intercept(new BearerToken(token));
    return builder;
  }

  private static final class BearerToken implements ClientInterceptor {
    private final String header;

    BearerToken(String token) {
      this.header = "Bearer " + token;
    }

    @Override
    public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
        MethodDescriptor<ReqT, RespT> method, CallOptions callOptions, Channel next) {
      return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, callOptions)) {
        @Override
        public void start(Listener<RespT> listener, Metadata headers) {
          headers.put(AUTHORIZATION, header);
          super.start(listener, headers);
        }
      };
    }
  }
}

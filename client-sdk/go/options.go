package fetchpool

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// DefaultTimeout is the deadline of a call whose context has none.
const DefaultTimeout = 30 * time.Second

// Affinity chooses how calls are spread over the target's addresses.
type Affinity int

const (
	// AffinityNone balances round-robin over every resolved address.
	AffinityNone Affinity = iota
	// AffinityHost sends each fetch to the replica its pool key hashes to
	// (ring_hash keyed by the fetchpool-pool-key header, gRFC A76).
	AffinityHost
)

// Option configures a Client.
type Option func(*options)

type options struct {
	caFile, clientCertFile, clientKeyFile string
	token                                 string
	allowTokenOverPlaintext               bool
	serverNameOverride                    string
	defaultTimeout                        time.Duration
	affinity                              Affinity
	dialOptions                           []grpc.DialOption
}

// WithCAFile turns on TLS and trusts this CA bundle (PEM) instead of the
// system roots.
func WithCAFile(path string) Option { return func(o *options) { o.caFile = path } }

// WithTLS turns on TLS with the system roots.
func WithTLS() Option { return func(o *options) { o.caFile = systemRoots } }

// systemRoots marks "TLS with the system roots" in options.caFile.
const systemRoots = "\x00system"

// WithClientCert presents this certificate and key (PEM files): mTLS. It
// turns on TLS (with the system roots unless WithCAFile is given).
func WithClientCert(certFile, keyFile string) Option {
	return func(o *options) { o.clientCertFile, o.clientKeyFile = certFile, keyFile }
}

// WithToken sends "authorization: Bearer <token>" on every call. It needs
// TLS: New refuses it over plaintext unless WithAllowTokenOverPlaintext.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithAllowTokenOverPlaintext lets a token go over a plaintext channel, for
// tests and a sidecar on loopback.
func WithAllowTokenOverPlaintext() Option {
	return func(o *options) { o.allowTokenOverPlaintext = true }
}

// WithServerNameOverride is the name the server certificate must carry, when
// it differs from the target's host.
func WithServerNameOverride(name string) Option {
	return func(o *options) { o.serverNameOverride = name }
}

// WithDefaultTimeout replaces the 30 s deadline of calls whose context has
// none.
func WithDefaultTimeout(d time.Duration) Option { return func(o *options) { o.defaultTimeout = d } }

// WithAffinity chooses the balancing (AffinityNone: round-robin).
func WithAffinity(a Affinity) Option { return func(o *options) { o.affinity = a } }

// WithDialOptions adds grpc-go dial options (interceptors, a custom
// resolver, keepalive). They are applied after the client's own.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

func (o *options) usesTLS() bool {
	return o.caFile != "" || o.clientCertFile != "" || o.serverNameOverride != ""
}

// transportCredentials: plaintext, or TLS with the configured CA bundle,
// client certificate and server name.
func (o *options) transportCredentials() (credentials.TransportCredentials, error) {
	if !o.usesTLS() {
		return insecure.NewCredentials(), nil
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.serverNameOverride}
	if o.caFile != "" && o.caFile != systemRoots {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("fetchpool: CA file: %w", err)
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("fetchpool: CA file %s holds no PEM certificate", o.caFile)
		}
	}
	if o.clientCertFile != "" || o.clientKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.clientCertFile, o.clientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("fetchpool: client certificate: %w", err)
		}
		config.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(config), nil
}

// bearerToken is the per-call "authorization" metadata.
type bearerToken struct {
	token         string
	requireSecure bool
}

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearerToken) RequireTransportSecurity() bool { return b.requireSecure }

// serviceConfig is the channel's balancing: round_robin (gRPC's default,
// pick_first, would send every call to one replica), or ring_hash on the
// pool-key header for host affinity.
func (o *options) serviceConfig() string {
	if o.affinity == AffinityHost {
		return `{"loadBalancingConfig":[{"ring_hash_experimental":{"requestHashHeader":"` + PoolKeyHeader + `"}}]}`
	}
	return `{"loadBalancingConfig":[{"round_robin":{}}]}`
}

// dialOptions are every grpc.DialOption New passes to grpc.NewClient.
func (o *options) grpcDialOptions() ([]grpc.DialOption, error) {
	creds, err := o.transportCredentials()
	if err != nil {
		return nil, err
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(o.serviceConfig()),
	}
	if o.token != "" {
		if !o.usesTLS() && !o.allowTokenOverPlaintext {
			return nil, errors.New("fetchpool: a token over plaintext would travel in the clear; " +
				"use WithCAFile/WithTLS, or WithAllowTokenOverPlaintext for tests and sidecars")
		}
		dial = append(dial, grpc.WithPerRPCCredentials(bearerToken{token: o.token, requireSecure: o.usesTLS()}))
	}
	return append(dial, o.dialOptions...), nil
}

package fetchpool

import (
	"context"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// The credentials options against real TLS fetchpoolds that test.sh starts:
// FETCHPOOL_TLS_TARGET requires a bearer token (FETCHPOOL_TOKEN),
// FETCHPOOL_MTLS_TARGET a client certificate; both present a server
// certificate for 127.0.0.1 and localhost signed by FETCHPOOL_CA_FILE.

type tlsEnv struct {
	tlsTarget, mtlsTarget, ca, token, cert, key, origin string
}

func liveTLS(t *testing.T) tlsEnv {
	t.Helper()
	env := tlsEnv{os.Getenv("FETCHPOOL_TLS_TARGET"), os.Getenv("FETCHPOOL_MTLS_TARGET"),
		os.Getenv("FETCHPOOL_CA_FILE"), os.Getenv("FETCHPOOL_TOKEN"), os.Getenv("FETCHPOOL_CLIENT_CERT"),
		os.Getenv("FETCHPOOL_CLIENT_KEY"), os.Getenv("FETCHPOOL_ORIGIN")}
	if env.tlsTarget == "" || env.mtlsTarget == "" || env.origin == "" {
		t.Skip("FETCHPOOL_TLS_TARGET, FETCHPOOL_MTLS_TARGET and FETCHPOOL_ORIGIN are unset (test.sh sets them)")
	}
	return env
}

// getThrough gets ORIGIN/status/200 through a new client with opts.
func getThrough(t *testing.T, target, origin string, opts ...Option) error {
	t.Helper()
	client, err := New(target, append(opts, WithDefaultTimeout(5*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	resp, err := client.Get(context.Background(), origin+"/status/200")
	if err == nil && resp.GetStatus() != 200 {
		t.Fatalf("status %d", resp.GetStatus())
	}
	return err
}

func TestLiveTLSWithToken(t *testing.T) {
	env := liveTLS(t)
	if err := getThrough(t, env.tlsTarget, env.origin, WithCAFile(env.ca), WithToken(env.token)); err != nil {
		t.Fatalf("CA file and token: %v", err)
	}
	err := getThrough(t, env.tlsTarget, env.origin, WithCAFile(env.ca), WithToken("wrong-token"))
	if CodeOf(err) != codes.Unauthenticated || ReasonOf(err) != "UNAUTHENTICATED" {
		t.Fatalf("a wrong token: %v", err)
	}
	err = getThrough(t, env.tlsTarget, env.origin, WithCAFile(env.ca))
	if CodeOf(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
}

func TestLiveTLSServerName(t *testing.T) {
	env := liveTLS(t)
	if err := getThrough(t, env.tlsTarget, env.origin, WithCAFile(env.ca), WithToken(env.token),
		WithServerNameOverride("localhost")); err != nil {
		t.Fatalf("server name localhost (in the certificate): %v", err)
	}
	err := getThrough(t, env.tlsTarget, env.origin, WithCAFile(env.ca), WithToken(env.token),
		WithServerNameOverride("elsewhere.example"))
	if CodeOf(err) != codes.Unavailable {
		t.Fatalf("a name the certificate does not carry should fail the handshake: %v", err)
	}
	// The system roots do not trust the test CA.
	if err := getThrough(t, env.tlsTarget, env.origin, WithTLS(), WithToken(env.token)); CodeOf(err) != codes.Unavailable {
		t.Fatalf("an untrusted server certificate: %v", err)
	}
}

func TestLiveMutualTLS(t *testing.T) {
	env := liveTLS(t)
	if err := getThrough(t, env.mtlsTarget, env.origin, WithCAFile(env.ca), WithClientCert(env.cert, env.key)); err != nil {
		t.Fatalf("client certificate: %v", err)
	}
	if err := getThrough(t, env.mtlsTarget, env.origin, WithCAFile(env.ca)); err == nil {
		t.Fatal("without a client certificate the mTLS fetchpoold must refuse")
	}
}

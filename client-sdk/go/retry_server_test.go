package fetchpool

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

// scriptedFailure is one answer of scriptedServer: a gRPC error with an
// optional fetchpool-reason trailer.
type scriptedFailure struct {
	code   codes.Code
	reason string
}

// scriptedServer fails Fetch with its script, in order, then answers 200
// (or keeps failing with the last entry when repeatLast is set); it records
// each attempt's pool-key metadata.
type scriptedServer struct {
	fetchpoolv1.UnimplementedFetchPoolServer
	mu         sync.Mutex
	script     []scriptedFailure
	repeatLast bool
	attempts   int
	poolKeys   []string
}

func (s *scriptedServer) Fetch(ctx context.Context, req *fetchpoolv1.FetchRequest) (*fetchpoolv1.FetchResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	md, _ := metadata.FromIncomingContext(ctx)
	s.poolKeys = append(s.poolKeys, md.Get(PoolKeyHeader)...)
	if len(s.script) == 0 {
		return &fetchpoolv1.FetchResponse{Status: 200}, nil
	}
	f := s.script[0]
	if len(s.script) > 1 || !s.repeatLast {
		s.script = s.script[1:]
	}
	if f.reason != "" {
		grpc.SetTrailer(ctx, metadata.Pairs(reasonKey, f.reason))
	}
	return nil, status.Error(f.code, "scripted failure")
}

func (s *scriptedServer) attemptCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// startScripted serves srv on 127.0.0.1 and returns a client for it.
func startScripted(t *testing.T, srv fetchpoolv1.FetchPoolServer, opts ...Option) *Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	fetchpoolv1.RegisterFetchPoolServer(server, srv)
	go server.Serve(lis)
	t.Cleanup(server.Stop)
	client, err := New(lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

var (
	shuttingDown = scriptedFailure{codes.Unavailable, "SHUTTING_DOWN"}
	queueFull    = scriptedFailure{codes.ResourceExhausted, "QUEUE_FULL"}
	transport    = scriptedFailure{codes.Unavailable, ""}
	reset        = scriptedFailure{codes.Unavailable, "CONNECTION_RESET"}
)

func post(url string) *fetchpoolv1.FetchRequest {
	return &fetchpoolv1.FetchRequest{Method: "POST", Url: url, Body: []byte("x")}
}

func TestRetriesFollowTheTable(t *testing.T) {
	cases := []struct {
		name     string
		script   []scriptedFailure
		req      *fetchpoolv1.FetchRequest
		attempts int
		ok       bool
	}{
		{"GET after SHUTTING_DOWN twice", []scriptedFailure{shuttingDown, shuttingDown}, &fetchpoolv1.FetchRequest{Url: "http://a/"}, 3, true},
		{"POST after QUEUE_FULL", []scriptedFailure{queueFull}, post("http://a/"), 2, true},
		{"GET after a broken transport", []scriptedFailure{transport}, &fetchpoolv1.FetchRequest{Url: "http://a/"}, 2, true},
		{"POST after a broken transport is never resent", []scriptedFailure{transport}, post("http://a/"), 1, false},
		{"idempotent POST after a broken transport", []scriptedFailure{transport},
			&fetchpoolv1.FetchRequest{Method: "POST", Url: "http://a/", Idempotent: true}, 2, true},
		{"GET after CONNECTION_RESET", []scriptedFailure{reset}, &fetchpoolv1.FetchRequest{Url: "http://a/"}, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := &scriptedServer{script: c.script}
			client := startScripted(t, srv)
			_, err := client.Fetch(context.Background(), c.req)
			if (err == nil) != c.ok || srv.attemptCount() != c.attempts {
				t.Fatalf("err %v after %d attempts; want ok=%v after %d", err, srv.attemptCount(), c.ok, c.attempts)
			}
			if !c.ok && (CodeOf(err) != c.script[0].code || ReasonOf(err) != c.script[0].reason) {
				t.Fatalf("error %v, want the server's %v/%q", err, c.script[0].code, c.script[0].reason)
			}
		})
	}
}

func TestRetriesStopAtFiveAttemptsThenTheBudget(t *testing.T) {
	srv := &scriptedServer{script: []scriptedFailure{shuttingDown}, repeatLast: true}
	client := startScripted(t, srv)
	start := time.Now()
	_, err := client.Get(context.Background(), "http://a/")
	if ReasonOf(err) != "SHUTTING_DOWN" || srv.attemptCount() != maxAttempts {
		t.Fatalf("%v after %d attempts", err, srv.attemptCount())
	}
	// The sleeps between them: at least 125+250+500+1000 ms.
	if elapsed := time.Since(start); elapsed < 1875*time.Millisecond {
		t.Fatalf("five attempts took only %v: backoff too short", elapsed)
	}
	// Five failures took the bucket from 10 to 5 tokens: no more retries.
	_, err = client.Get(context.Background(), "http://a/")
	if err == nil || srv.attemptCount() != maxAttempts+1 {
		t.Fatalf("with the budget spent: %v after %d attempts in all", err, srv.attemptCount())
	}
}

func TestRetriesStayInsideTheDeadline(t *testing.T) {
	srv := &scriptedServer{script: []scriptedFailure{transport}, repeatLast: true}
	client := startScripted(t, srv, WithDefaultTimeout(400*time.Millisecond))
	start := time.Now()
	_, err := client.Get(context.Background(), "http://a/")
	elapsed := time.Since(start)
	if CodeOf(err) != codes.Unavailable || elapsed > 450*time.Millisecond || srv.attemptCount() > 3 {
		t.Fatalf("%v after %v and %d attempts", err, elapsed, srv.attemptCount())
	}
}

func TestEveryFetchCarriesItsPoolKey(t *testing.T) {
	srv := &scriptedServer{}
	client := startScripted(t, srv)
	for _, url := range []string{"HTTP://Example.COM/x", "http://127.1:8080/", "not a url"} {
		if _, err := client.Get(context.Background(), url); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"http://example.com:80", "http://127.0.0.1:8080"}
	if len(srv.poolKeys) != len(want) || srv.poolKeys[0] != want[0] || srv.poolKeys[1] != want[1] {
		t.Fatalf("pool keys sent %q, want %q (none for the unparseable URL)", srv.poolKeys, want)
	}
}

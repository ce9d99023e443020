package fetchpool

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

// The live tests talk to a real fetchpoold (FETCHPOOL_TARGET) that may fetch
// from the test origin (FETCHPOOL_ORIGIN, http://127.0.0.1:PORT);
// tests/client-sdk/go/test.sh starts both. They skip only when unset.

type liveEnv struct {
	target, origin string
	client         *Client
}

func live(t *testing.T, opts ...Option) liveEnv {
	t.Helper()
	target, origin := os.Getenv("FETCHPOOL_TARGET"), os.Getenv("FETCHPOOL_ORIGIN")
	if target == "" || origin == "" {
		t.Skip("FETCHPOOL_TARGET and FETCHPOOL_ORIGIN are unset (tests/client-sdk/go/test.sh sets them)")
	}
	client, err := New(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return liveEnv{target: target, origin: origin, client: client}
}

// deniedURL is a destination every fetchpoold refuses (link-local metadata).
func deniedURL() string {
	if u := os.Getenv("FETCHPOOL_DENIED_URL"); u != "" {
		return u
	}
	return "http://169.254.169.254/latest/meta-data/"
}

func TestLiveGetAndPoolKey(t *testing.T) {
	env := live(t)
	url := env.origin + "/status/200"
	resp, err := env.client.Get(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := PoolKey(url)
	if resp.GetStatus() != 200 || resp.GetPool() != key {
		t.Fatalf("status %d pool %q; want 200 and %q", resp.GetStatus(), resp.GetPool(), key)
	}
}

func TestLivePostAndUpstreamStatus(t *testing.T) {
	env := live(t)
	resp, err := env.client.Fetch(context.Background(), &fetchpoolv1.FetchRequest{
		Method: "POST", Url: env.origin + "/echo", Body: []byte("hello")})
	if err != nil || string(resp.GetBody()) != "hello" {
		t.Fatalf("POST /echo: %v %q", err, resp.GetBody())
	}
	resp, err = env.client.Get(context.Background(), env.origin+"/status/404")
	if err != nil || resp.GetStatus() != 404 {
		t.Fatalf("a 404 is a response, not an error: %v %d", err, resp.GetStatus())
	}
}

func TestLiveErrorsCarryReason(t *testing.T) {
	env := live(t)
	_, err := env.client.Get(context.Background(), deniedURL())
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != codes.PermissionDenied || fe.Reason != "DESTINATION_DENIED" || fe.Message == "" {
		t.Fatalf("denied URL: %#v", err)
	}
	if ReasonOf(err) != "DESTINATION_DENIED" || CodeOf(err) != codes.PermissionDenied {
		t.Fatalf("ReasonOf/CodeOf: %q %v", ReasonOf(err), CodeOf(err))
	}
	_, err = env.client.Get(context.Background(), "ftp://example.com/")
	if CodeOf(err) != codes.InvalidArgument || ReasonOf(err) == "" {
		t.Fatalf("ftp URL: %v", err)
	}
}

func TestLiveDeadlines(t *testing.T) {
	env := live(t, WithDefaultTimeout(300*time.Millisecond))
	start := time.Now()
	_, err := env.client.Get(context.Background(), env.origin+"/sleep?ms=3000")
	if CodeOf(err) != codes.DeadlineExceeded || time.Since(start) > 2*time.Second {
		t.Fatalf("default deadline: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = env.client.Get(ctx, env.origin+"/sleep?ms=3000")
	if CodeOf(err) != codes.DeadlineExceeded {
		t.Fatalf("context deadline: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = env.client.Get(ctx, env.origin+"/sleep?ms=3000")
	if CodeOf(err) != codes.Canceled {
		t.Fatalf("cancelled context: %v", err)
	}
}

func TestLiveStatsAndWatch(t *testing.T) {
	env := live(t)
	url := env.origin + "/status/200"
	if _, err := env.client.Get(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	key, _ := PoolKey(url)
	stats, err := env.client.Stats(context.Background(), key)
	if err != nil || len(stats.GetPools()) != 1 || stats.GetPools()[0].GetHost() != key {
		t.Fatalf("Stats(%q): %v %v", key, err, stats)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seen := 0
	for resp, err := range env.client.WatchStats(ctx, 100*time.Millisecond, key) {
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetPools()) != 1 {
			t.Fatalf("WatchStats: %v", resp)
		}
		if seen++; seen == 3 {
			break
		}
	}
	if seen != 3 {
		t.Fatalf("WatchStats gave %d snapshots", seen)
	}
}

func TestLiveStreamMatchesAnswers(t *testing.T) {
	env := live(t)
	stream := env.client.OpenStream(context.Background(), 16)
	var pendings []*Pending
	for i := 0; i < 100; i++ {
		p, err := stream.Submit(context.Background(), &fetchpoolv1.FetchRequest{
			Method: "POST", Url: env.origin + "/echo", Body: []byte("n" + strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		pendings = append(pendings, p)
	}
	for i, p := range pendings {
		resp, err := p.Wait(context.Background())
		if err != nil || string(resp.GetBody()) != "n"+strconv.Itoa(i) {
			t.Fatalf("fetch %d: %v %q", i, err, resp.GetBody())
		}
	}
	denied, err := stream.Submit(context.Background(), &fetchpoolv1.FetchRequest{Url: deniedURL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := denied.Wait(context.Background()); ReasonOf(err) != "DESTINATION_DENIED" {
		t.Fatalf("a failed fetch on the stream: %v", err)
	}
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Submit(context.Background(), &fetchpoolv1.FetchRequest{Url: env.origin}); err == nil {
		t.Fatal("Submit after Close should fail")
	}
}

func TestLiveStreamBackPressure(t *testing.T) {
	env := live(t)
	stream := env.client.OpenStream(context.Background(), 1)
	defer stream.Close()
	slow, err := stream.Submit(context.Background(), &fetchpoolv1.FetchRequest{Url: env.origin + "/sleep?ms=500"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := stream.Submit(ctx, &fetchpoolv1.FetchRequest{Url: env.origin + "/status/200"}); CodeOf(err) != codes.DeadlineExceeded {
		t.Fatalf("a second Submit with max_in_flight 1 should block: %v", err)
	}
	if resp, err := slow.Wait(context.Background()); err != nil || resp.GetStatus() != 200 {
		t.Fatalf("slow fetch: %v", err)
	}
	next, err := stream.Submit(context.Background(), &fetchpoolv1.FetchRequest{Url: env.origin + "/status/200", Id: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := next.Wait(context.Background()); err != nil || resp.GetId() != "mine" {
		t.Fatalf("after the answer a slot frees: %v %v", err, resp)
	}
}

func TestTokenOverPlaintextRefused(t *testing.T) {
	if _, err := New("127.0.0.1:1", WithToken("secret")); err == nil {
		t.Fatal("New should refuse a token over plaintext")
	}
	c, err := New("127.0.0.1:1", WithToken("secret"), WithAllowTokenOverPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = New("127.0.0.1:1", WithToken("secret"), WithTLS())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

package fetchpool

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

// startReplica runs FETCHPOOL_FETCHPOOLD listening on ip (an address of
// 127/8, all local) and returns its ip:port; the process ends with the test.
func startReplica(t *testing.T, binary, ip string) string {
	t.Helper()
	cmd := exec.Command(binary, "--listen="+ip+":0", "--metrics_listen="+ip+":0", "--drain_delay=0s",
		"--allow_cidrs=127.0.0.0/8,::1/128")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	portRE := regexp.MustCompile(`"event":"start".*"port":"([0-9]+)"`)
	found := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			if m := portRE.FindStringSubmatch(scanner.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		for scanner.Scan() { // keep draining so the replica never blocks on stderr
		}
	}()
	select {
	case port := <-found:
		return ip + ":" + port
	case <-time.After(10 * time.Second):
		t.Fatalf("fetchpoold on %s did not start", ip)
		return ""
	}
}

// replicaPools is how many requests each replica served for key.
func replicaPools(t *testing.T, replicas []string, key string) []uint64 {
	t.Helper()
	counts := make([]uint64, len(replicas))
	for i, addr := range replicas {
		c, err := New(addr)
		if err != nil {
			t.Fatal(err)
		}
		stats, err := c.Stats(context.Background(), "")
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, pool := range stats.GetPools() {
			if pool.GetHost() == key {
				counts[i] = pool.GetRequestsTotal()
			}
		}
	}
	return counts
}

// twoReplicas starts two fetchpoold replicas behind one manual resolver and
// returns a client for them with opts, the replicas' addresses and the
// origin.
func twoReplicas(t *testing.T, opts ...Option) (*Client, []string, string) {
	binary, origin := os.Getenv("FETCHPOOL_FETCHPOOLD"), os.Getenv("FETCHPOOL_ORIGIN")
	if binary == "" || origin == "" {
		t.Skip("FETCHPOOL_FETCHPOOLD and FETCHPOOL_ORIGIN are unset (tests/client-sdk/go/test.sh sets them)")
	}
	replicas := []string{startReplica(t, binary, "127.0.0.2"), startReplica(t, binary, "127.0.0.3")}
	r := manual.NewBuilderWithScheme("fetchpool-test")
	r.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: replicas[0]}, {Addr: replicas[1]}}})
	client, err := New(r.Scheme()+":///replicas", append(opts, WithDialOptions(grpc.WithResolvers(r)))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client, replicas, origin
}

// onOneReplica: all n requests of key went to a single replica.
func onOneReplica(counts []uint64, n uint64) bool {
	return (counts[0] == n && counts[1] == 0) || (counts[0] == 0 && counts[1] == n)
}

func TestAffinityHostSendsAnOriginToOneReplica(t *testing.T) {
	client, replicas, origin := twoReplicas(t, WithAffinity(AffinityHost))
	const n = 20
	// Several origins (pool keys) that all reach the test origin, so that
	// both replicas get some with overwhelming likelihood.
	port := origin[len("http://127.0.0.1:"):]
	urls := []string{origin, "http://localhost:" + port, "http://127.1:" + port + "/x",
		"http://[::ffff:127.0.0.1]:" + port}
	for _, url := range urls {
		for i := 0; i < n; i++ {
			if _, err := client.Get(context.Background(), url+"/status/200"); err != nil {
				t.Fatalf("%s: %v", url, err)
			}
		}
	}
	// The FetchStream wrapper with affinity rides on the same replica.
	stream := client.OpenStream(context.Background(), 8)
	for i := 0; i < n; i++ {
		p, err := stream.Submit(context.Background(), &fetchpoolv1.FetchRequest{Url: origin + "/status/200"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	stream.Close()
	for i, url := range urls {
		key, _ := PoolKey(url)
		want := uint64(n)
		if i == 0 || i == 2 { // 127.1 is 127.0.0.1: the same pool key, plus the stream's
			want = 3 * n
		}
		counts := replicaPools(t, replicas, key)
		t.Logf("%s: requests per replica %v", key, counts)
		if !onOneReplica(counts, want) {
			t.Errorf("%s: requests per replica %v, want all %d on one", key, counts, want)
		}
	}
}

func TestRoundRobinSpreadsOverReplicas(t *testing.T) {
	client, replicas, origin := twoReplicas(t)
	key, _ := PoolKey(origin)
	sent := 0
	get := func() {
		if _, err := client.Get(context.Background(), origin+"/status/200?i="+strconv.Itoa(sent)); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	// round_robin picks among the replicas whose connection is READY; on a
	// loaded machine the second may take a moment longer than the first.
	// Wait (at most 10 s) until each has served a request.
	deadline := time.Now().Add(10 * time.Second)
	before := replicaPools(t, replicas, key)
	for before[0] == 0 || before[1] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("round_robin: requests per replica %v after %d calls, want both used", before, sent)
		}
		get()
		before = replicaPools(t, replicas, key)
	}
	// With both READY, calls alternate between them.
	const n = 20
	for i := 0; i < n; i++ {
		get()
	}
	after := replicaPools(t, replicas, key)
	spread := []uint64{after[0] - before[0], after[1] - before[1]}
	t.Logf("round_robin: %d calls to warm up, then %v per replica", sent-n, spread)
	if spread[0]+spread[1] != n || spread[0] < n/4 || spread[1] < n/4 {
		t.Fatalf("round_robin: requests per replica %v, want %d spread over both", spread, n)
	}
}

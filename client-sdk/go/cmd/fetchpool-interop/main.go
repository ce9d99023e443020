// fetchpool-interop runs the interop scenario of issue #12 (the steps and
// their JSON lines are in tests/client-sdk/interop/) through the Go SDK's
// public API only, plus net/http for the test origin's /hits counter. It
// appends one JSON line per step to $FETCHPOOL_OUT and exits 0 whatever the
// lines say: the checker judges them.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	fetchpool "github.com/fetchpool/fetchpool/client-sdk/go"
	"github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

// codeNames are the canonical gRPC code names the checker compares
// (codes.Code.String() is CamelCase).
var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}

type runner struct {
	sdk, origin string
	out         *os.File
	client      *fetchpool.Client
}

// line is one step's JSON object: the common fields, then the step's own.
type line map[string]any

// record writes the step's line with code, reason and status taken from the
// call's outcome, plus fields.
func (r *runner) record(step string, resp *fetchpoolv1.FetchResponse, err error, fields line) {
	l := line{"sdk": r.sdk, "step": step, "code": codeNames[fetchpool.CodeOf(err)],
		"reason": fetchpool.ReasonOf(err), "status": int(resp.GetStatus())}
	for k, v := range fields {
		l[k] = v
	}
	data, _ := json.Marshal(l)
	fmt.Fprintf(r.out, "%s\n", data)
	fmt.Fprintf(os.Stderr, "interop: %s\n", data)
}

func main() {
	outPath := os.Getenv("FETCHPOOL_OUT")
	target, origin := os.Getenv("FETCHPOOL_TARGET"), os.Getenv("FETCHPOOL_ORIGIN")
	if outPath == "" || target == "" || origin == "" {
		fmt.Fprintln(os.Stderr, "fetchpool-interop: needs FETCHPOOL_OUT, FETCHPOOL_TARGET and FETCHPOOL_ORIGIN")
		os.Exit(2)
	}
	out, err := os.OpenFile(outPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fetchpool-interop:", err)
		os.Exit(2)
	}
	defer out.Close()
	client, err := fetchpool.New(target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fetchpool-interop:", err)
		os.Exit(2)
	}
	defer client.Close()
	sdk := os.Getenv("FETCHPOOL_SDK")
	if sdk == "" {
		sdk = "go"
	}
	r := &runner{sdk: sdk, origin: origin, out: out, client: client}
	r.basicSteps()
	r.waitTimeout()
	r.denied()
	r.poolKeys()
	r.stream()
	r.stats()
	r.tlsSteps()
	r.restartGet()
	r.postNotReplayed()
}

func (r *runner) basicSteps() {
	ctx := context.Background()
	url := r.origin + "/status/200"
	resp, err := r.client.Get(ctx, url)
	key, _ := fetchpool.PoolKey(url)
	r.record("get", resp, err, line{"pool_key_match": err == nil && key == resp.GetPool()})

	resp, err = r.client.Fetch(ctx, &fetchpoolv1.FetchRequest{Method: "POST", Url: r.origin + "/echo", Body: []byte("interop")})
	r.record("post", resp, err, line{"body": string(resp.GetBody())})

	resp, err = r.client.Get(ctx, r.origin+"/status/404")
	r.record("not_found", resp, err, nil)
}

func (r *runner) waitTimeout() {
	ctx := context.Background()
	slow := os.Getenv("FETCHPOOL_SLOW_ORIGIN")
	type result struct {
		resp *fetchpoolv1.FetchResponse
		err  error
	}
	first := make(chan result, 1)
	go func() {
		resp, err := r.client.Get(ctx, slow+"/sleep?ms=1500")
		first <- result{resp, err}
	}()
	time.Sleep(300 * time.Millisecond)
	resp, err := r.client.Fetch(ctx, &fetchpoolv1.FetchRequest{
		Url: slow + "/status/200", WaitTimeout: durationpb.New(200 * time.Millisecond)})
	a := <-first
	r.record("wait_timeout", resp, err, line{"first_status": int(a.resp.GetStatus())})
}

func (r *runner) denied() {
	resp, err := r.client.Get(context.Background(), os.Getenv("FETCHPOOL_DENIED_URL"))
	r.record("denied", resp, err, nil)
}

func (r *runner) poolKeys() {
	urls := strings.Fields(os.Getenv("FETCHPOOL_KEY_URLS"))
	mismatches := []string{}
	for _, url := range urls {
		key, _ := fetchpool.PoolKey(url)
		resp, err := r.client.Get(context.Background(), url)
		pool := resp.GetPool()
		if err != nil {
			pool = "error:" + codeNames[fetchpool.CodeOf(err)] + "/" + fetchpool.ReasonOf(err)
		}
		if pool != key {
			mismatches = append(mismatches, url+" "+key+" "+pool)
		}
	}
	r.record("pool_keys", nil, nil, line{"checked": len(urls), "mismatches": mismatches})
}

func (r *runner) stream() {
	ctx := context.Background()
	stream := r.client.OpenStream(ctx, fetchpool.DefaultMaxInFlight)
	var pendings []*fetchpool.Pending
	var submitErr error
	for i := 0; i < 100; i++ {
		p, err := stream.Submit(ctx, &fetchpoolv1.FetchRequest{
			Method: "POST", Url: r.origin + "/echo", Body: []byte(fmt.Sprintf("n%d", i))})
		if err != nil {
			submitErr = err
			break
		}
		pendings = append(pendings, p)
	}
	ok, matched := 0, 0
	for i, p := range pendings {
		resp, err := p.Wait(ctx)
		if err != nil {
			continue
		}
		if resp.GetStatus() == 200 {
			ok++
		}
		if string(resp.GetBody()) == fmt.Sprintf("n%d", i) {
			matched++
		}
	}
	stream.Close()
	status := &fetchpoolv1.FetchResponse{Status: 200}
	if submitErr != nil {
		status = nil
	}
	r.record("stream", status, submitErr, line{"ok": ok, "matched": matched})
}

func (r *runner) stats() {
	stats, err := r.client.Stats(context.Background(), "")
	key, _ := fetchpool.PoolKey(r.origin)
	found := false
	for _, pool := range stats.GetPools() {
		found = found || pool.GetHost() == key
	}
	r.record("stats", nil, err, line{"pool_found": found})
}

// getWith makes a client with opts and gets ORIGIN/status/200 through it.
func (r *runner) getWith(step, target string, opts ...fetchpool.Option) {
	client, err := fetchpool.New(target, opts...)
	if err != nil {
		r.record(step, nil, err, line{"error": err.Error()})
		return
	}
	defer client.Close()
	resp, err := client.Get(context.Background(), r.origin+"/status/200")
	r.record(step, resp, err, nil)
}

func (r *runner) tlsSteps() {
	ca := os.Getenv("FETCHPOOL_CA_FILE")
	r.getWith("tls_token", os.Getenv("FETCHPOOL_TLS_TARGET"),
		fetchpool.WithCAFile(ca), fetchpool.WithToken(os.Getenv("FETCHPOOL_TOKEN")))
	r.getWith("tls_bad_token", os.Getenv("FETCHPOOL_TLS_TARGET"),
		fetchpool.WithCAFile(ca), fetchpool.WithToken("wrong-token"))
	r.getWith("mtls", os.Getenv("FETCHPOOL_MTLS_TARGET"), fetchpool.WithCAFile(ca),
		fetchpool.WithClientCert(os.Getenv("FETCHPOOL_CLIENT_CERT"), os.Getenv("FETCHPOOL_CLIENT_KEY")))
}

// restart runs FETCHPOOL_RESTART and waits for it to return.
func restart() {
	cmd := exec.Command("bash", "-c", os.Getenv("FETCHPOOL_RESTART"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "fetchpool-interop: FETCHPOOL_RESTART:", err)
	}
}

func (r *runner) restartGet() {
	restart()
	resp, err := r.client.Get(context.Background(), r.origin+"/status/200")
	r.record("restart_get", resp, err, nil)
}

// hits is the test origin's count for key (-1 when it cannot be read).
func (r *runner) hits(key string) int {
	resp, err := http.Get(r.origin + "/hits?key=" + key)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var n int
	if _, err := fmt.Sscan(strings.TrimSpace(string(body)), &n); err != nil || resp.StatusCode != 200 {
		return -1
	}
	return n
}

func (r *runner) postNotReplayed() {
	suffix := make([]byte, 6)
	rand.Read(suffix)
	key := r.sdk + "-" + hex.EncodeToString(suffix)
	type result struct {
		resp *fetchpoolv1.FetchResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := r.client.Fetch(context.Background(), &fetchpoolv1.FetchRequest{
			Method: "POST", Url: r.origin + "/count?key=" + key + "&ms=3000", Body: []byte("once")})
		done <- result{resp, err}
	}()
	for start := time.Now(); r.hits(key) < 1 && time.Since(start) < 5*time.Second; {
		time.Sleep(50 * time.Millisecond)
	}
	restart()
	post := <-done
	for start := time.Now(); time.Since(start) < 10*time.Second; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := r.client.Get(ctx, r.origin+"/status/200")
		cancel()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.record("post_not_replayed", post.resp, post.err, line{"origin_hits": r.hits(key)})
}

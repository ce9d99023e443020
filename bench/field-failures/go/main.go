// ffbench: the field failures of ../../shared/notes/seed-lessons.md, replayed
// with the anchors' own clients (Go net/http, fasthttp) and with fetchpool
// (through its gRPC API) against one origin, so the rows compare like for like.
//
//	ffbench burst --client=nethttp|fasthttp|fetchpool --origin=127.0.0.1:P [--target=H:P] ...
//	ffbench slow  --client=... --origin=... [--timeout=150ms] ...
//	ffbench idle  --client=... --origin=... ...
//	ffbench table ROWS.jsonl        (markdown table of the rows run.sh collected)
//
// Each workload subcommand prints one JSON object: requests, outcomes, errors
// by category, retries the client made on its own, connections the client
// dialled, and TIME_WAIT sockets toward/from the origin port counted with
// `ss` the moment the workload ends (before anything is torn down, so the
// closes of shutdown are not counted). For fetchpool it adds the pool's Stats.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	fpb "github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

// ---------------------------------------------------------------------------
// Clients

// result of one logical request as the caller sees it.
type result struct {
	category string // "" when a response arrived
	status   int
	retries  int  // extra attempts the client made by itself
	reused   bool // fetchpool only: answered on a reused connection
}

type client interface {
	Do(method, path string, body []byte, timeout time.Duration) result
	Dials() int64 // connections the client dialled (-1: not visible)
	Extra() map[string]any
	Close()
}

// categorize maps the many spellings of the same failure to one label.
func categorize(err error) string {
	if err == nil {
		return ""
	}
	var ne net.Error
	s := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, fasthttp.ErrTimeout),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET), strings.Contains(s, "connection reset"):
		return "connection reset"
	case strings.Contains(s, "server closed idle connection"):
		return "server closed idle connection"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "closed before first byte"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), strings.HasSuffix(s, "EOF"):
		return "EOF"
	case errors.Is(err, syscall.EPIPE), strings.Contains(s, "broken pipe"):
		return "broken pipe"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return "other: " + s
}

// --- Go net/http ------------------------------------------------------------

type netHTTPClient struct {
	base   string
	c      *http.Client
	dials  atomic.Int64
	idleCp int
	// HTTPS only (--ca): TLS handshakes completed, and of those resumed.
	tls                   bool
	handshakes, tlsResume atomic.Int64
}

func newNetHTTP(origin string, maxIdlePerHost int) *netHTTPClient {
	return newNetHTTPWithRoots(origin, maxIdlePerHost, nil)
}

// newNetHTTPWithRoots: with roots != nil the origin is spoken to over HTTPS,
// trusting roots (the only TLS setting changed from the default Transport's:
// no session cache, as with http.DefaultTransport).
func newNetHTTPWithRoots(origin string, maxIdlePerHost int, roots *x509.CertPool) *netHTTPClient {
	n := &netHTTPClient{base: "http://" + origin, idleCp: maxIdlePerHost}
	// http.DefaultTransport's settings; only the dialer is wrapped, to count.
	t := http.DefaultTransport.(*http.Transport).Clone()
	if roots != nil {
		n.base = "https://" + origin
		n.tls = true
		t.TLSClientConfig = &tls.Config{
			RootCAs: roots,
			// Observation only: once per completed handshake, after the usual
			// verification (which still decides).
			VerifyConnection: func(cs tls.ConnectionState) error {
				n.handshakes.Add(1)
				if cs.DidResume {
					n.tlsResume.Add(1)
				}
				return nil
			},
		}
	}
	t.MaxIdleConnsPerHost = maxIdlePerHost // 0 = http.DefaultMaxIdleConnsPerHost (2)
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	n.c = &http.Client{Transport: t}
	return n
}

func (n *netHTTPClient) Do(method, path string, body []byte, timeout time.Duration) result {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	attempts := 0
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn: func(string) { attempts++ }, // once per attempt, retries included
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, n.base+path, rd)
	resp, err := n.c.Do(req)
	r := result{}
	if attempts > 1 {
		r.retries = attempts - 1
	}
	if err != nil {
		r.category = categorize(err)
		return r
	}
	// Read to EOF before Close so the connection can go back to the pool
	// (lesson 3): the comparison is about pooling, not that mistake.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.status = resp.StatusCode
	if err != nil {
		r.category = categorize(err)
	}
	return r
}

func (n *netHTTPClient) Dials() int64 { return n.dials.Load() }
func (n *netHTTPClient) Extra() map[string]any {
	idle := n.idleCp
	if idle == 0 {
		idle = http.DefaultMaxIdleConnsPerHost
	}
	m := map[string]any{"max_idle_conns_per_host": idle}
	if n.tls {
		m["tls_handshakes"] = n.handshakes.Load()
		m["tls_resumed"] = n.tlsResume.Load()
	}
	return m
}
func (n *netHTTPClient) Close() {}

// --- fasthttp ---------------------------------------------------------------

type fastHTTPClient struct {
	base     string
	c        *fasthttp.Client
	dials    atomic.Int64
	attempts sync.Map // *fasthttp.Request -> *atomic.Int64, while in flight
	idleDur  time.Duration
}

// countingTransport wraps fasthttp's own transport to count attempts: every
// RoundTrip is one attempt, so attempts-1 are the retries fasthttp made.
type countingTransport struct{ f *fastHTTPClient }

func (t countingTransport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	if n, ok := t.f.attempts.Load(req); ok {
		n.(*atomic.Int64).Add(1)
	}
	return fasthttp.DefaultTransport.RoundTrip(hc, req, resp)
}

func newFastHTTP(origin string, maxIdleConnDuration time.Duration) *fastHTTPClient {
	f := &fastHTTPClient{base: "http://" + origin, idleDur: maxIdleConnDuration}
	f.c = &fasthttp.Client{
		// Defaults everywhere (MaxConnsPerHost 512, MaxIdleConnDuration 10s,
		// up to 5 attempts for idempotent requests); the hooks only count.
		Dial: func(addr string) (net.Conn, error) {
			f.dials.Add(1)
			return fasthttp.Dial(addr)
		},
		Transport:           countingTransport{f},
		MaxIdleConnDuration: maxIdleConnDuration, // 0 = DefaultMaxIdleConnDuration
	}
	return f
}

func (f *fastHTTPClient) Do(method, path string, body []byte, timeout time.Duration) result {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(f.base + path)
	req.Header.SetMethod(method)
	if body != nil {
		req.SetBody(body)
	}
	attempts := &atomic.Int64{}
	f.attempts.Store(req, attempts)
	defer f.attempts.Delete(req)
	var err error
	if timeout > 0 {
		err = f.c.DoTimeout(req, resp, timeout)
	} else {
		err = f.c.Do(req, resp)
	}
	r := result{}
	if n := attempts.Load(); n > 1 {
		r.retries = int(n - 1)
	}
	if err != nil {
		r.category = categorize(err)
		return r
	}
	r.status = resp.StatusCode()
	return r
}

func (f *fastHTTPClient) Dials() int64 { return f.dials.Load() }
func (f *fastHTTPClient) Extra() map[string]any {
	d := f.idleDur
	if d == 0 {
		d = fasthttp.DefaultMaxIdleConnDuration
	}
	return map[string]any{"max_idle_conn_duration": d.String()}
}
func (f *fastHTTPClient) Close() {}

// --- fetchpool (gRPC) -------------------------------------------------------

type fetchpoolClient struct {
	base string
	conn *grpc.ClientConn
	api  fpb.FetchPoolClient
}

func newFetchpool(origin, target string) (*fetchpoolClient, error) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &fetchpoolClient{base: "http://" + origin, conn: conn, api: fpb.NewFetchPoolClient(conn)}, nil
}

func (p *fetchpoolClient) Do(method, path string, body []byte, timeout time.Duration) result {
	ctx := context.Background()
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var trailer metadata.MD
	resp, err := p.api.Fetch(ctx, &fpb.FetchRequest{Method: method, Url: p.base + path, Body: body},
		grpc.Trailer(&trailer))
	if err != nil {
		st := status.Convert(err)
		reason := ""
		if v := trailer.Get("fetchpool-reason"); len(v) > 0 {
			reason = v[0]
		} else if i := strings.Index(st.Message(), ":"); i > 0 && strings.ToUpper(st.Message()[:i]) == st.Message()[:i] {
			reason = st.Message()[:i]
		}
		switch {
		case st.Code() == codes.DeadlineExceeded:
			// The client's own deadline and fetchpool's DEADLINE_EXCEEDED are
			// the same event seen from two sides.
			return result{category: "timeout"}
		case reason != "":
			return result{category: reason}
		default:
			return result{category: "grpc " + st.Code().String() + ": " + st.Message()}
		}
	}
	r := result{status: int(resp.Status), reused: resp.ConnectionReused}
	if resp.Attempts > 1 {
		r.retries = int(resp.Attempts) - 1
	}
	return r
}

func (p *fetchpoolClient) Dials() int64 { return -1 }

// Extra is the pool's Stats for this origin: fetchpool's own view.
func (p *fetchpoolClient) Extra() map[string]any {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := p.api.Stats(ctx, &fpb.StatsRequest{Host: p.base})
	if err != nil {
		return map[string]any{"stats_error": err.Error()}
	}
	if len(st.Pools) == 0 {
		return map[string]any{"stats_error": "no pool " + p.base}
	}
	s := st.Pools[0]
	return map[string]any{
		"connections_opened_total":   s.ConnectionsOpenedTotal,
		"connections_closed_total":   s.ConnectionsClosedTotal,
		"local_closes_total":         s.LocalClosesTotal,
		"time_wait_estimate":         s.TimeWaitEstimate,
		"time_wait_kernel":           s.TimeWaitKernel,
		"retries_total":              s.RetriesTotal,
		"stale_caught_total":         s.StaleCaughtTotal,
		"failures_total":             s.FailuresTotal,
		"errors_by_reason":           s.ErrorsByReason,
		"closed_aborted_total":       s.ClosedAbortedTotal,
		"closed_upstream_total":      s.ClosedUpstreamTotal,
		"closed_idle_timeout_total":  s.ClosedIdleTimeoutTotal,
		"closed_error_total":         s.ClosedErrorTotal,
		"closed_idle_overflow_total": s.ClosedIdleOverflowTotal,
		"idle_connections":           s.IdleConnections,
		"busy_connections":           s.BusyConnections,
		"reused_requests_total":      s.ReusedRequestsTotal,
		"requests_total":             s.RequestsTotal,
		"idle_timeout_ms":            s.IdleTimeoutMs,
		"wait_timeouts_total":        s.WaitTimeoutsTotal,
		"queue_wait_p50_ms":          s.GetQueueWait().GetP50Ms(),
		"queue_wait_p99_ms":          s.GetQueueWait().GetP99Ms(),
		"queued_over_10ms":           overMs(s.GetQueueWait(), 10),
		"fetch_time_p99_ms":          s.GetFetchTime().GetP99Ms(),
		"tls_handshakes_total":       s.TlsHandshakesTotal,
		"tls_sessions_resumed_total": s.TlsSessionsResumedTotal,
	}
}

func (p *fetchpoolClient) Close() { p.conn.Close() }

// overMs: how many samples of h fell in buckets above `ms` (bucket bounds
// permitting).
func overMs(h *fpb.Histogram, ms float64) uint64 {
	if h == nil {
		return 0
	}
	var n uint64
	for i, c := range h.GetBucketCounts() {
		if i > 0 && i-1 < len(h.GetUpperBoundsMs()) && h.GetUpperBoundsMs()[i-1] >= ms {
			n += c
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// Tallies

type tally struct {
	mu       sync.Mutex
	requests int
	ok       int
	non2xx   int
	retries  int
	reused   int
	errors   map[string]int
	// per request kind (GET/POST) in the idle-close workload
	byKind map[string]map[string]int
	opened []int // per burst: client dials during the burst (burst workload)
	bursts []map[string]any
}

func newTally() *tally {
	return &tally{errors: map[string]int{}, byKind: map[string]map[string]int{}}
}

func (t *tally) add(kind string, r result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	t.retries += r.retries
	if r.reused {
		t.reused++
	}
	k := t.byKind[kind]
	if k == nil {
		k = map[string]int{}
		t.byKind[kind] = k
	}
	k["requests"]++
	k["retries"] += r.retries
	if r.category != "" {
		t.errors[r.category]++
		k[r.category]++
		return
	}
	if r.status >= 200 && r.status < 300 {
		t.ok++
	} else {
		t.non2xx++
	}
}

// timeWait counts sockets in TIME_WAIT whose destination (client side) or
// source (origin side) port is the origin's, as `ss` reports them.
func timeWait(port string) (client, origin int, err error) {
	count := func(filter string) (int, error) {
		out, err := exec.Command("ss", "-Htan", "state", "time-wait", filter).Output()
		if err != nil {
			return 0, err
		}
		n := 0
		for _, line := range strings.Split(string(out), "\n") {
			if strings.TrimSpace(line) != "" {
				n++
			}
		}
		return n, nil
	}
	if client, err = count("( dport = :" + port + " )"); err != nil {
		return
	}
	origin, err = count("( sport = :" + port + " )")
	return
}

// ---------------------------------------------------------------------------
// Workloads

type common struct {
	clientName string
	label      string
	origin     string
	target     string
	goIdle     int
	fastIdle   time.Duration
	ca         string // PEM file: the origin speaks HTTPS, trusted through it
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.clientName, "client", "", "nethttp | fasthttp | fetchpool")
	fs.StringVar(&c.label, "label", "", "row label (default: the client name)")
	fs.StringVar(&c.origin, "origin", "", "origin host:port")
	fs.StringVar(&c.target, "target", "", "fetchpoold host:port (client=fetchpool)")
	fs.IntVar(&c.goIdle, "go_max_idle_per_host", 0, "net/http MaxIdleConnsPerHost (0 = Go's default, 2)")
	fs.DurationVar(&c.fastIdle, "fasthttp_max_idle_conn_duration", 0,
		"fasthttp MaxIdleConnDuration (0 = its default, 10s; 30ns = the field report's unit mistake)")
	fs.StringVar(&c.ca, "ca", "",
		"CA certificate (PEM): the origin is https://, trusted through it (nethttp: RootCAs; fetchpool: "+
			"https URLs, fetchpoold must trust it through --ca_file)")
}

func (c *common) newClient() (client, error) {
	if c.ca != "" {
		switch c.clientName {
		case "nethttp":
			pem, err := os.ReadFile(c.ca)
			if err != nil {
				return nil, err
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca %s: no certificate", c.ca)
			}
			return newNetHTTPWithRoots(c.origin, c.goIdle, roots), nil
		case "fetchpool":
			if c.target == "" {
				return nil, errors.New("--target is required with --client=fetchpool")
			}
			p, err := newFetchpool(c.origin, c.target)
			if p != nil {
				p.base = "https://" + c.origin
			}
			return p, err
		}
		return nil, fmt.Errorf("--ca: not supported with --client %q", c.clientName)
	}
	switch c.clientName {
	case "nethttp":
		return newNetHTTP(c.origin, c.goIdle), nil
	case "fasthttp":
		return newFastHTTP(c.origin, c.fastIdle), nil
	case "fetchpool":
		if c.target == "" {
			return nil, errors.New("--target is required with --client=fetchpool")
		}
		return newFetchpool(c.origin, c.target)
	}
	return nil, fmt.Errorf("unknown --client %q", c.clientName)
}

// burst: `bursts` rounds of `size` simultaneous GETs, `gap` apart.
func runBurst(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("burst", flag.ExitOnError)
	var c common
	c.register(fs)
	bursts := fs.Int("bursts", 5, "number of bursts")
	size := fs.Int("size", 256, "concurrent requests per burst")
	gap := fs.Duration("gap", time.Second, "idle time between bursts")
	path := fs.String("path", "/bytes?n=100", "request path")
	fs.Parse(args)
	cl, err := c.newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	t := newTally()
	start := time.Now()
	for b := 0; b < *bursts; b++ {
		if b > 0 {
			time.Sleep(*gap)
		}
		before := cl.Dials()
		okBefore, reqBefore := t.ok, t.requests
		burstStart := time.Now()
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := 0; i < *size; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				t.add("GET", cl.Do("GET", *path, nil, 10*time.Second))
			}()
		}
		close(gate)
		wg.Wait()
		t.opened = append(t.opened, int(cl.Dials()-before))
		t.bursts = append(t.bursts, map[string]any{
			"ok": t.ok - okBefore, "requests": t.requests - reqBefore,
			"seconds": time.Since(burstStart).Seconds(),
		})
	}
	elapsed := time.Since(start)
	return finish(&c, cl, t, elapsed, map[string]any{
		"workload": fmt.Sprintf("%d bursts of %d concurrent GET %s, %v apart", *bursts, *size, *path, *gap),
	})
}

// slow: `callers` closed-loop callers, each `per` GET /sleep?ms=X with X
// uniform in [min,max] (same sequence for every client: seeded per caller),
// and a client timeout shorter than some of them.
func runSlow(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("slow", flag.ExitOnError)
	var c common
	c.register(fs)
	callers := fs.Int("callers", 32, "concurrent callers")
	per := fs.Int("per", 20, "requests per caller")
	minMs := fs.Int("min_ms", 50, "shortest response time")
	maxMs := fs.Int("max_ms", 300, "longest response time")
	timeout := fs.Duration("timeout", 150*time.Millisecond, "client timeout per request")
	seed := fs.Uint64("seed", 42, "PRNG seed")
	fs.Parse(args)
	cl, err := c.newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	t := newTally()
	over := 0
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *callers; i++ {
		rng := rand.New(rand.NewPCG(*seed, uint64(i)))
		ms := make([]int, *per)
		for j := range ms {
			ms[j] = *minMs + rng.IntN(*maxMs-*minMs+1)
			if time.Duration(ms[j])*time.Millisecond > *timeout {
				over++
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range ms {
				t.add("GET", cl.Do("GET", fmt.Sprintf("/sleep?ms=%d", m), nil, *timeout))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return finish(&c, cl, t, elapsed, map[string]any{
		"workload": fmt.Sprintf("%d callers x %d GET /sleep?ms=U[%d,%d], timeout %v",
			*callers, *per, *minMs, *maxMs, *timeout),
		"responses_slower_than_timeout": over,
	})
}

// idle: `callers` callers fire together, then all wait the same gap (swept
// across [gap_min, gap_max]) plus a small per-caller offset, so every round
// lands each pooled connection at the origin's idle-close moment. Half the
// callers GET, half POST (not replayable without an idempotency mark).
func runIdle(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	var c common
	c.register(fs)
	callers := fs.Int("callers", 8, "concurrent callers (even ones GET, odd ones POST)")
	// Denser near 1000 ms, where the origin's idle close and the next
	// request meet.
	gapList := fs.String("gaps_ms", "950,970,985,993,996,998,999,999.5,999.8,1000,1000.2,1000.5,1001,1002,1004,1007,1015,1030,1050",
		"the gap before each round after the first, in ms")
	// 0: all callers fire together each round, so every client needs about
	// `callers` connections per round whatever its own latency, and each of
	// them meets the origin's idle close.
	spread := fs.Duration("caller_offset", 0, "extra gap per caller index")
	sweeps := fs.Int("sweeps", 1, "times the gap list is run through")
	fs.Parse(args)
	cl, err := c.newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	t := newTally()
	sweep, err := parseGaps(*gapList)
	if err != nil {
		return nil, err
	}
	var gaps []time.Duration
	for i := 0; i < *sweeps; i++ {
		gaps = append(gaps, sweep...)
	}
	rounds := len(gaps) + 1
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method, kind := "GET", "GET"
			var body []byte
			if i%2 == 1 {
				method, kind, body = "POST", "POST", []byte(`{"caller":1}`)
			}
			for r := 0; r < rounds; r++ {
				if r > 0 {
					time.Sleep(gaps[r-1] + time.Duration(i)*(*spread))
				}
				t.add(kind, cl.Do(method, "/echo", body, 5*time.Second))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return finish(&c, cl, t, elapsed, map[string]any{
		"workload": fmt.Sprintf("%d callers (half GET, half POST, caller i waits i*%v more) x %d rounds, gaps %s ms (x%d)",
			*callers, *spread, rounds, *gapList, *sweeps),
	})
}

func parseGaps(list string) ([]time.Duration, error) {
	var gaps []time.Duration
	for _, f := range strings.Split(list, ",") {
		var ms float64
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%g", &ms); err != nil {
			return nil, fmt.Errorf("--gaps_ms: %q: %w", f, err)
		}
		gaps = append(gaps, time.Duration(ms*float64(time.Millisecond)))
	}
	return gaps, nil
}

func finish(c *common, cl client, t *tally, elapsed time.Duration, extra map[string]any) (map[string]any, error) {
	_, port, err := net.SplitHostPort(c.origin)
	if err != nil {
		return nil, err
	}
	// "Right after the run": 300 ms lets closes the run started finish their
	// FIN exchange (FIN_WAIT_2 -> TIME_WAIT) without letting any TIME_WAIT
	// expire (60 s), and comes before anything is stopped.
	time.Sleep(300 * time.Millisecond)
	twClient, twOrigin, err := timeWait(port)
	if err != nil {
		return nil, fmt.Errorf("ss: %w", err)
	}
	out := map[string]any{
		"client":         c.clientName,
		"label":          c.label,
		"requests":       t.requests,
		"ok":             t.ok,
		"non2xx":         t.non2xx,
		"errors":         t.errors,
		"retries":        t.retries,
		"by_kind":        t.byKind,
		"dials":          cl.Dials(),
		"tw_client_side": twClient,
		"tw_origin_side": twOrigin,
		"elapsed_s":      elapsed.Seconds(),
		"client_extra":   cl.Extra(),
	}
	if c.clientName == "fetchpool" {
		out["reused"] = t.reused
	}
	if t.opened != nil {
		out["dials_per_burst"] = t.opened
		out["bursts"] = t.bursts
	}
	if out["label"] == "" {
		out["label"] = c.clientName
	}
	for k, v := range extra {
		out[k] = v
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Table

func fmtErrors(m map[string]any) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%v %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

func num(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case json.Number:
		n, _ := x.Int64()
		return n
	}
	return 0
}

// table renders the rows run.sh collected (one JSON object a line, with the
// scenario name and the origin's own connection count added).
func table(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fmt.Println("| scenario | client | connections opened (origin count) | TIME_WAIT after (client side + origin side) | errors surfaced to caller | retries by the client | requests ok / total |")
	fmt.Println("|---|---|---:|---:|---|---:|---:|")
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return fmt.Errorf("%s: %w", line, err)
		}
		errs, _ := r["errors"].(map[string]any)
		errText := fmtErrors(errs)
		// Scenario 3 splits errors by method: replayable GET vs POST.
		if bk, ok := r["by_kind"].(map[string]any); ok && len(bk) > 1 && len(errs) > 0 {
			parts := []string{}
			for _, kind := range []string{"GET", "POST"} {
				km, _ := bk[kind].(map[string]any)
				sub := map[string]any{}
				for k, v := range km {
					if k != "requests" && k != "retries" {
						sub[k] = v
					}
				}
				parts = append(parts, kind+": "+fmtErrors(sub))
			}
			errText = strings.Join(parts, "; ")
		}
		retries := fmt.Sprint(num(r["retries"]))
		if bk, ok := r["by_kind"].(map[string]any); ok && len(bk) > 1 {
			g, _ := bk["GET"].(map[string]any)
			p, _ := bk["POST"].(map[string]any)
			retries = fmt.Sprintf("%d (GET %d, POST %d)", num(r["retries"]), num(g["retries"]), num(p["retries"]))
		}
		// A fetchpoold that stopped answering is the finding, not a footnote.
		if ex, ok := r["client_extra"].(map[string]any); ok && ex["stats_error"] != nil {
			errText += " · **Stats RPC failed: " + fmt.Sprint(ex["stats_error"]) + "**"
		}
		if r["fetchpoold_shutdown"] == "hung" {
			errText += " · **fetchpoold hung on SIGTERM (killed)**"
		}
		twc, two := num(r["tw_client_side"]), num(r["tw_origin_side"])
		fmt.Printf("| %v | %v | %d | %d (%d + %d) | %s | %s | %d / %d |\n",
			r["scenario"], r["label"], num(r["origin_connections"]), twc+two, twc, two,
			errText, retries, num(r["ok"]), num(r["requests"]))
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ffbench burst|slow|idle|table ...")
		os.Exit(2)
	}
	var (
		out map[string]any
		err error
	)
	switch os.Args[1] {
	case "burst":
		out, err = runBurst(os.Args[2:])
	case "slow":
		out, err = runSlow(os.Args[2:])
	case "idle":
		out, err = runIdle(os.Args[2:])
	case "table":
		if len(os.Args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: ffbench table ROWS.jsonl")
			os.Exit(2)
		}
		err = table(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "ffbench:", err)
			os.Exit(1)
		}
		return
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ffbench:", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

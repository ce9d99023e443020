// tlsbench: the Go side of bench/tls/run.sh.
//
//	tlsbench get   --url=https://127.0.0.1:P/ --ca=ca.pem --concurrency=64 --duration=8s
//	tlsbench stats --target=127.0.0.1:G [--host=https://127.0.0.1:P]
//	tlsbench watch --target=127.0.0.1:G --host=https://127.0.0.1:P [--interval=200ms]
//
// get (scenario G-TLS): Go net/http with the default Transport
// (http.DefaultTransport's settings, cloned; the only change is
// TLSClientConfig.RootCAs = the harness's CA, so no ClientSessionCache and
// MaxIdleConnsPerHost 2, as a program that only trusts a private CA would
// have), `concurrency` goroutines in a closed loop of GETs for `duration`.
// Prints one JSON object: requests, ok, errors, rps. --proto (bench/h2):
// "h2" sets ForceAttemptHTTP2 (net/http's bundled HTTP/2 transport, ALPN h2
// then http/1.1; a cloned DefaultTransport has it already), "h1" offers
// HTTP/1.1 alone (Transport.Protocols), "x2" uses golang.org/x/net/http2's
// Transport instead (HTTP/2 only, same TLS config; it merges the dials of
// requests that wait for a host's first connection, net/http does not);
// empty leaves the clone as it is.
// The responses' protocols are counted ("protos").
//
// stats: one Stats call to fetchpoold; prints the pool's (or the totals')
// connection and TLS counters as one JSON object.
//
// watch (bench/h2): Stats for the pool every --interval until SIGTERM, then
// one JSON object: the largest streams_in_use and busy_connections seen, and
// the last protocol and max_streams_per_connection. Failed calls (before
// fetchpoold is up, after it stops) are counted, not fatal.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	fpb "github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

func runGet(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	url := fs.String("url", "", "https URL every GET asks for")
	ca := fs.String("ca", "", "CA certificate (PEM) the origin's certificate is signed by")
	concurrency := fs.Int("concurrency", 64, "GETs in flight (closed loop)")
	duration := fs.Duration("duration", 8*time.Second, "how long to send")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	proto := fs.String("proto", "", "h2: ForceAttemptHTTP2; h1: HTTP/1.1 only; x2: x/net/http2.Transport; empty: the clone as it is")
	fs.Parse(args)
	if *url == "" || *ca == "" {
		return nil, fmt.Errorf("--url and --ca are required")
	}
	pem, err := os.ReadFile(*ca)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca %s: no certificate", *ca)
	}
	var handshakes, resumed atomic.Int64
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{
		RootCAs: roots,
		// Observation only: called once per completed handshake, after the
		// usual verification (which still decides), on full and resumed ones.
		VerifyConnection: func(cs tls.ConnectionState) error {
			handshakes.Add(1)
			if cs.DidResume {
				resumed.Add(1)
			}
			return nil
		},
	}
	var rt http.RoundTripper = t
	switch *proto {
	case "h2":
		t.ForceAttemptHTTP2 = true
	case "h1":
		t.Protocols = new(http.Protocols)
		t.Protocols.SetHTTP1(true)
	case "x2":
		rt = &http2.Transport{TLSClientConfig: t.TLSClientConfig}
	case "":
	default:
		return nil, fmt.Errorf("--proto %q: h2, h1, x2 or empty", *proto)
	}
	c := &http.Client{Transport: rt, Timeout: *timeout}
	protos := map[string]int{} // the responses' protocols (under mu)

	var ok, non2xx, requests atomic.Int64
	var mu sync.Mutex
	errs := map[string]int{}
	var slowest time.Duration // the longest request (the cold start shows here)
	ticks0, err := selfTicks()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(*duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < *concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine time.Duration
			defer func() {
				mu.Lock()
				slowest = max(slowest, mine)
				mu.Unlock()
			}()
			for time.Now().Before(deadline) {
				requests.Add(1)
				began := time.Now()
				resp, err := c.Get(*url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body) // read to EOF: the connection can be reused
					resp.Body.Close()
					if err == nil {
						mine = max(mine, time.Since(began))
						mu.Lock()
						protos[resp.Proto]++
						mu.Unlock()
						if resp.StatusCode >= 200 && resp.StatusCode < 300 {
							ok.Add(1)
						} else {
							non2xx.Add(1)
						}
					}
				}
				if err != nil {
					s := err.Error()
					if len(s) > 100 {
						s = s[:100]
					}
					mu.Lock()
					errs[s]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	ticks1, err := selfTicks()
	if err != nil {
		return nil, err
	}
	nerr := 0
	for _, n := range errs {
		nerr += n
	}
	return map[string]any{
		"requests": requests.Load(), "ok": ok.Load(), "non2xx": non2xx.Load(),
		"errors": nerr, "error_kinds": errs, "elapsed_s": elapsed,
		"rps":                     float64(ok.Load()) / elapsed,
		"max_us":                  float64(slowest.Microseconds()),
		"max_idle_conns_per_host": http.DefaultMaxIdleConnsPerHost,
		// utime+stime of this process (all threads) over the load loop, in
		// clock ticks (/proc/self/stat fields 14 and 15): startup excluded.
		"cpu_ticks": ticks1 - ticks0,
		// The client's own count of TLS handshakes (every dialled connection,
		// used for a request or not) and of those that resumed a session.
		"tls_handshakes": handshakes.Load(),
		"tls_resumed":    resumed.Load(),
		"protos":         protos,
	}, nil
}

// selfTicks: utime + stime of this process from /proc/self/stat, counting
// fields after the comm field's closing parenthesis.
func selfTicks() (int64, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/self/stat: %q", s)
	}
	return u + st, nil
}

// poolStats: one Stats call; the pool's stats, or the totals when host is "".
func poolStats(c fpb.FetchPoolClient, host string) (*fpb.HostPoolStats, uint32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Stats(ctx, &fpb.StatsRequest{Host: host})
	if err != nil {
		return nil, 0, err
	}
	s := resp.GetTotals()
	if host != "" {
		if len(resp.GetPools()) == 0 {
			return nil, 0, fmt.Errorf("no pool %s", host)
		}
		s = resp.GetPools()[0]
	}
	return s, resp.GetPoolCount(), nil
}

func runStats(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("stats", flag.ExitOnError)
	target := fs.String("target", "127.0.0.1:50051", "fetchpoold address")
	host := fs.String("host", "", "pool key (scheme://host:port); empty: the totals")
	fs.Parse(args)
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	s, poolCount, err := poolStats(fpb.NewFetchPoolClient(conn), *host)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"host":                       s.GetHost(),
		"pool_count":                 poolCount,
		"requests_total":             s.GetRequestsTotal(),
		"failures_total":             s.GetFailuresTotal(),
		"errors_by_reason":           s.GetErrorsByReason(),
		"connections_opened_total":   s.GetConnectionsOpenedTotal(),
		"connections_closed_total":   s.GetConnectionsClosedTotal(),
		"reused_requests_total":      s.GetReusedRequestsTotal(),
		"tls_handshakes_total":       s.GetTlsHandshakesTotal(),
		"tls_sessions_resumed_total": s.GetTlsSessionsResumedTotal(),
		"protocol":                   s.GetProtocol(),
		"streams_in_use":             s.GetStreamsInUse(),
		"max_streams_per_connection": s.GetMaxStreamsPerConnection(),
		"busy_connections":           s.GetBusyConnections(),
	}
	return out, nil
}

func runWatch(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("watch", flag.ExitOnError)
	target := fs.String("target", "127.0.0.1:50051", "fetchpoold address")
	host := fs.String("host", "", "pool key (scheme://host:port)")
	interval := fs.Duration("interval", 200*time.Millisecond, "time between Stats calls")
	fs.Parse(args)
	// Started before fetchpoold listens: retry the connection every 100 ms,
	// not with gRPC's default backoff (1 s and growing).
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1, MaxDelay: 100 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c := fpb.NewFetchPoolClient(conn)
	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	var samples, failed int
	var streamsMax, busyMax, maxStreams uint32
	protocol := ""
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for stop.Err() == nil {
		if s, _, err := poolStats(c, *host); err != nil {
			failed++
		} else {
			samples++
			streamsMax = max(streamsMax, s.GetStreamsInUse())
			busyMax = max(busyMax, s.GetBusyConnections())
			maxStreams = s.GetMaxStreamsPerConnection()
			if s.GetProtocol() != "" {
				protocol = s.GetProtocol()
			}
		}
		select {
		case <-stop.Done():
		case <-tick.C:
		}
	}
	return map[string]any{
		"samples": samples, "failed": failed, "streams_in_use_max": streamsMax,
		"busy_connections_max": busyMax, "max_streams_per_connection": maxStreams, "protocol": protocol,
	}, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tlsbench get|stats|watch ...")
		os.Exit(2)
	}
	var out map[string]any
	var err error
	switch os.Args[1] {
	case "get":
		out, err = runGet(os.Args[2:])
	case "stats":
		out, err = runStats(os.Args[2:])
	case "watch":
		out, err = runWatch(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsbench:", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

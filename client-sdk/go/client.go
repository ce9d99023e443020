// Package fetchpool is the Go client of fetchpool: a thin layer over grpc-go
// that makes each call correct by default (client-sdk/README.md is the
// contract): a deadline on every call, retries that never send a request
// twice when that could matter, errors that say why, round-robin over every
// replica, and optional host affinity.
package fetchpool

import (
	"context"
	"io"
	"iter"
	"time"

	"google.golang.org/grpc"
	_ "google.golang.org/grpc/balancer/ringhash" // registers ring_hash_experimental for AffinityHost
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

// Client is a connection to fetchpool; make one per process and share it.
type Client struct {
	conn           *grpc.ClientConn
	api            fetchpoolv1.FetchPoolClient
	defaultTimeout time.Duration
	affinity       Affinity
	budget         *retryBudget
}

// New makes a client for target: "host:port" or any gRPC target
// ("dns:///fetchpoold-headless:50051", "unix:/run/fetchpool.sock"). It does
// not connect yet; the first call does.
func New(target string, opts ...Option) (*Client, error) {
	o := options{defaultTimeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	dial, err := o.grpcDialOptions()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(target, dial...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:           conn,
		api:            fetchpoolv1.NewFetchPoolClient(conn),
		defaultTimeout: o.defaultTimeout,
		affinity:       o.affinity,
		budget:         newRetryBudget(),
	}, nil
}

// Close ends the client's connections; calls in flight fail.
func (c *Client) Close() error { return c.conn.Close() }

// withDeadline gives ctx the client's default deadline when it has none.
func (c *Client) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || c.defaultTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.defaultTimeout)
}

// withPoolKey adds the fetchpool-pool-key metadata for rawURL, when the URL
// has a pool key.
func withPoolKey(ctx context.Context, rawURL string) context.Context {
	if key, ok := PoolKey(rawURL); ok {
		return metadata.AppendToOutgoingContext(ctx, PoolKeyHeader, key)
	}
	return ctx
}

// Get fetches rawURL with GET and the defaults.
func (c *Client) Get(ctx context.Context, rawURL string) (*fetchpoolv1.FetchResponse, error) {
	return c.Fetch(ctx, &fetchpoolv1.FetchRequest{Url: rawURL})
}

// Fetch makes one HTTP request through fetchpool. An upstream HTTP status
// (404, 503) is a response, not an error; an error is an *Error. A failure
// is retried (at most 5 attempts, all inside ctx's deadline, 30 s when ctx
// has none) only when the contract's table allows it for this request.
func (c *Client) Fetch(ctx context.Context, req *fetchpoolv1.FetchRequest) (*fetchpoolv1.FetchResponse, error) {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	ctx = withPoolKey(ctx, req.GetUrl())
	for attempt := 1; ; attempt++ {
		var trailer metadata.MD
		resp, err := c.api.Fetch(ctx, req, grpc.Trailer(&trailer))
		if err == nil {
			c.budget.succeeded()
			return resp, nil
		}
		failure := errorFromCall(err, trailer)
		if classifyFailure(failure.Code, failure.Reason) != retryNever {
			c.budget.failed()
		}
		if attempt >= maxAttempts || !mayResend(req, failure) || !c.budget.allowsRetry() {
			return nil, failure
		}
		sleep := backoffDelay(attempt, randomUnit())
		deadline, hasDeadline := ctx.Deadline()
		if !fitsDeadline(time.Now(), deadline, hasDeadline, sleep) {
			return nil, failure
		}
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			timer.Stop()
			if ctx.Err() == context.Canceled {
				return nil, contextError(ctx)
			}
			return nil, failure
		case <-timer.C:
		}
	}
}

// Stats is a snapshot of fetchpool's pools: one pool key, or all for "".
func (c *Client) Stats(ctx context.Context, host string) (*fetchpoolv1.StatsResponse, error) {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	var trailer metadata.MD
	resp, err := c.api.Stats(ctx, &fetchpoolv1.StatsRequest{Host: host}, grpc.Trailer(&trailer))
	if err != nil {
		return nil, errorFromCall(err, trailer)
	}
	return resp, nil
}

// WatchStats yields a StatsResponse every interval (fetchpool's default, 1 s,
// for 0) until ctx ends, the loop breaks, or the stream fails: then it yields
// the error once. It has no default deadline.
//
//	for stats, err := range client.WatchStats(ctx, time.Second, "") { ... }
func (c *Client) WatchStats(ctx context.Context, interval time.Duration, host string) iter.Seq2[*fetchpoolv1.StatsResponse, error] {
	return func(yield func(*fetchpoolv1.StatsResponse, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req := &fetchpoolv1.WatchStatsRequest{Host: host}
		if interval > 0 {
			req.Interval = durationpb.New(interval)
		}
		stream, err := c.api.WatchStats(ctx, req)
		if err != nil {
			yield(nil, errorFromCall(err, nil))
			return
		}
		for {
			resp, err := stream.Recv()
			if err != nil {
				if err != io.EOF && ctx.Err() == nil {
					yield(nil, errorFromCall(err, stream.Trailer()))
				}
				return
			}
			if !yield(resp, nil) {
				return
			}
		}
	}
}

package fetchpool

import (
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

// The retry policy of client-sdk/README.md ("Retries, safe by construction"),
// as pure functions so that the unit tests can hold each rule on its own.

const (
	maxAttempts     = 5 // the first and 4 retries
	backoffBase     = 250 * time.Millisecond
	backoffCap      = 2 * time.Second
	budgetMax       = 10_000 // token bucket in thousandths: max_tokens = 10
	budgetRatio     = 100    // token_ratio = 0.1 given back per success
	budgetPerFail   = 1_000  // one token per failed attempt
	budgetThreshold = 5_000  // retry only while the bucket holds more than 5
)

// retryClass says which requests may be sent again after a failure.
type retryClass int

const (
	retryNever          retryClass = iota // anything else: may have reached the origin
	retryAnyRequest                       // fetchpool refused before taking a connection
	retryReplaySafeOnly                   // transport broke: fetchpool may have started
)

// classifyFailure places a failure in the contract's table.
func classifyFailure(code codes.Code, reason string) retryClass {
	switch {
	case reason == "SHUTTING_DOWN" || reason == "QUEUE_FULL":
		return retryAnyRequest
	case code == codes.Unavailable && reason == "":
		return retryReplaySafeOnly
	default:
		return retryNever
	}
}

// replaySafe: running the request twice cannot hurt (GET, HEAD, OPTIONS, an
// empty method, or the caller said so with idempotent).
func replaySafe(req *fetchpoolv1.FetchRequest) bool {
	switch req.GetMethod() {
	case "", "GET", "HEAD", "OPTIONS":
		return true
	}
	return req.GetIdempotent()
}

// mayResend is the table's answer for this request and this failure.
func mayResend(req *fetchpoolv1.FetchRequest, err *Error) bool {
	switch classifyFailure(err.Code, err.Reason) {
	case retryAnyRequest:
		return true
	case retryReplaySafeOnly:
		return replaySafe(req)
	}
	return false
}

// backoffCeiling is b for retry n (1, 2, ...): min(250 ms × 2^(n−1), 2 s).
func backoffCeiling(retry int) time.Duration {
	b := backoffBase
	for i := 1; i < retry && b < backoffCap; i++ {
		b *= 2
	}
	return min(b, backoffCap)
}

// backoffDelay is a uniformly random sleep in [b/2, b]; unit is a number in
// [0, 1] (rand.Float64 in the client, fixed values in the tests).
func backoffDelay(retry int, unit float64) time.Duration {
	b := backoffCeiling(retry)
	return b/2 + time.Duration(unit*float64(b/2))
}

// fitsDeadline: a retry whose sleep would end past the deadline is not made.
func fitsDeadline(now, deadline time.Time, hasDeadline bool, sleep time.Duration) bool {
	return !hasDeadline || !now.Add(sleep).After(deadline)
}

// retryBudget is gRPC's retry throttling (gRFC A6): a token bucket, full at
// the start, that failures drain and successes refill, so that a fleet of
// clients cannot multiply fetchpool's load while it is down.
type retryBudget struct {
	mu     sync.Mutex
	tokens int // thousandths of a token
}

func newRetryBudget() *retryBudget { return &retryBudget{tokens: budgetMax} }

// failed records an attempt whose failure is in the retry table.
func (b *retryBudget) failed() {
	b.mu.Lock()
	b.tokens = max(b.tokens-budgetPerFail, 0)
	b.mu.Unlock()
}

// succeeded records a successful call.
func (b *retryBudget) succeeded() {
	b.mu.Lock()
	b.tokens = min(b.tokens+budgetRatio, budgetMax)
	b.mu.Unlock()
}

// allowsRetry: more than 5 tokens left.
func (b *retryBudget) allowsRetry() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens > budgetThreshold
}

// randomUnit is the jitter source for backoffDelay.
func randomUnit() float64 { return rand.Float64() }

package fetchpool

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

func TestRetryTable(t *testing.T) {
	get := &fetchpoolv1.FetchRequest{Url: "http://a/"}
	post := &fetchpoolv1.FetchRequest{Method: "POST", Url: "http://a/"}
	idempotentPost := &fetchpoolv1.FetchRequest{Method: "POST", Url: "http://a/", Idempotent: true}
	cases := []struct {
		code                  codes.Code
		reason                string
		get, post, idempotent bool
	}{
		{codes.Unavailable, "SHUTTING_DOWN", true, true, true},
		{codes.ResourceExhausted, "QUEUE_FULL", true, true, true},
		{codes.Unavailable, "", true, false, true},
		{codes.Unavailable, "CONNECTION_RESET", false, false, false},
		{codes.DeadlineExceeded, "WAIT_TIMEOUT", false, false, false},
		{codes.DeadlineExceeded, "", false, false, false},
		{codes.Internal, "", false, false, false},
		{codes.PermissionDenied, "DESTINATION_DENIED", false, false, false},
	}
	for _, c := range cases {
		err := &Error{Code: c.code, Reason: c.reason}
		if got := mayResend(get, err); got != c.get {
			t.Errorf("GET after %v/%q: resend %v, want %v", c.code, c.reason, got, c.get)
		}
		if got := mayResend(post, err); got != c.post {
			t.Errorf("POST after %v/%q: resend %v, want %v", c.code, c.reason, got, c.post)
		}
		if got := mayResend(idempotentPost, err); got != c.idempotent {
			t.Errorf("idempotent POST after %v/%q: resend %v, want %v", c.code, c.reason, got, c.idempotent)
		}
	}
	for method, want := range map[string]bool{"": true, "GET": true, "HEAD": true, "OPTIONS": true,
		"POST": false, "PUT": false, "DELETE": false, "PATCH": false} {
		if got := replaySafe(&fetchpoolv1.FetchRequest{Method: method}); got != want {
			t.Errorf("replaySafe(%q) = %v, want %v", method, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	ceilings := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second,
		2 * time.Second, 2 * time.Second, 2 * time.Second}
	for i, want := range ceilings {
		retry := i + 1
		if got := backoffCeiling(retry); got != want {
			t.Errorf("backoffCeiling(%d) = %v, want %v", retry, got, want)
		}
		if got := backoffDelay(retry, 0); got != want/2 {
			t.Errorf("backoffDelay(%d, 0) = %v, want %v", retry, got, want/2)
		}
		if got := backoffDelay(retry, 1); got != want {
			t.Errorf("backoffDelay(%d, 1) = %v, want %v", retry, got, want)
		}
	}
	now := time.Unix(1000, 0)
	if !fitsDeadline(now, now.Add(time.Second), true, time.Second) {
		t.Error("a sleep ending at the deadline should fit")
	}
	if fitsDeadline(now, now.Add(time.Second), true, time.Second+1) {
		t.Error("a sleep ending past the deadline should not fit")
	}
	if !fitsDeadline(now, time.Time{}, false, time.Hour) {
		t.Error("without a deadline every sleep fits")
	}
}

func TestRetryBudget(t *testing.T) {
	b := newRetryBudget()
	// Full (10): five failures leave 5, which is not more than 5.
	for i := 0; i < 4; i++ {
		b.failed()
		if !b.allowsRetry() {
			t.Fatalf("after %d failures the budget should still allow a retry", i+1)
		}
	}
	b.failed()
	if b.allowsRetry() {
		t.Fatal("at 5 tokens a retry must not be made")
	}
	b.succeeded() // 5.1
	if !b.allowsRetry() {
		t.Fatal("at 5.1 tokens a retry is allowed")
	}
	for i := 0; i < 20; i++ {
		b.failed()
	}
	if b.tokens != 0 {
		t.Fatalf("tokens went to %d, want 0 (not below)", b.tokens)
	}
	for i := 0; i < 200; i++ {
		b.succeeded()
	}
	if b.tokens != budgetMax {
		t.Fatalf("tokens went to %d, want %d (not above)", b.tokens, budgetMax)
	}
}

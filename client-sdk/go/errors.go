package fetchpool

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

// reasonKey is the trailing metadata key in which fetchpoold names why a
// call failed (top README, "Error reasons").
const reasonKey = "fetchpool-reason"

// Error is every failure the client returns: the gRPC status code, the
// fetchpool-reason trailer ("" when the failure was in the transport, not in
// fetchpool) and fetchpool's message. Find it with errors.As, or use ReasonOf
// and CodeOf. An upstream HTTP status (404, 503) is not an Error: it is a
// FetchResponse with that Status.
type Error struct {
	Code    codes.Code
	Reason  string
	Message string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("fetchpool: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("fetchpool: %s (%s): %s", e.Code, e.Reason, e.Message)
}

// GRPCStatus lets status.Code and status.FromError read an *Error too.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// ReasonOf is the fetchpool-reason of err ("" for nil, for a transport
// failure and for an error that did not come from this package).
func ReasonOf(err error) string {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return ""
}

// CodeOf is the gRPC code of err: OK for nil, Unknown for an error that
// carries no gRPC status.
func CodeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return status.Code(err)
}

// errorFromCall turns what a gRPC call returned into an *Error, taking the
// reason from the call's trailing metadata.
func errorFromCall(err error, trailer metadata.MD) *Error {
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err)
	}
	reason := ""
	if values := trailer.Get(reasonKey); len(values) > 0 {
		reason = values[0]
	}
	return &Error{Code: st.Code(), Reason: reason, Message: st.Message()}
}

// errorFromFetchError is a failed FetchStream answer as an *Error.
func errorFromFetchError(fe *fetchpoolv1.FetchError) *Error {
	return &Error{Code: codes.Code(fe.GetCode()), Reason: fe.GetReason(), Message: fe.GetMessage()}
}

// contextError is the *Error for a context that ended before a call could
// be made or retried.
func contextError(ctx context.Context) *Error {
	st := status.FromContextError(ctx.Err())
	return &Error{Code: st.Code(), Message: st.Message()}
}

package fetchpool

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

// DefaultMaxInFlight is fetchpoold's own cap per stream (--max_stream_inflight).
const DefaultMaxInFlight = 256

// maxAffinityLanes bounds the streams an affinity FetchStream keeps open (one
// per pool key, see laneKey); the least recently used is half-closed.
const maxAffinityLanes = 64

var errStreamClosed = &Error{Code: codes.Canceled, Message: "the FetchStream was closed"}

// FetchStream sends many fetches over FetchStream calls, for high-rate
// callers. Submit returns at once with a Pending (after back-pressure), and
// the answers come back matched by id. It does not retry: each answer comes
// back as it is. It has no default deadline; it ends with its context or
// Close.
type FetchStream struct {
	client *Client
	ctx    context.Context
	slots  chan struct{} // one per unanswered fetch: back-pressure
	nextID atomic.Uint64

	mu     sync.Mutex
	closed bool
	lanes  map[string]*lane
	order  []string // lane keys, least recently used first
	all    sync.WaitGroup
}

// Pending is the future of one submitted fetch.
type Pending struct {
	done chan struct{}
	resp *fetchpoolv1.FetchResponse
	err  error
}

// Done is closed when the answer (or the failure) is in.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Wait returns the fetch's response, or its *Error (built from
// FetchResponse.error, or the stream's status if the stream broke). ctx
// bounds only the waiting, not the fetch.
func (p *Pending) Wait(ctx context.Context) (*fetchpoolv1.FetchResponse, error) {
	select {
	case <-p.done:
		return p.resp, p.err
	case <-ctx.Done():
		return nil, contextError(ctx)
	}
}

func (p *Pending) finish(resp *fetchpoolv1.FetchResponse, err error) {
	p.resp, p.err = resp, err
	close(p.done)
}

// lane is one FetchStream call and the fetches it still owes answers to.
type lane struct {
	stream grpc.BidiStreamingClient[fetchpoolv1.FetchRequest, fetchpoolv1.FetchResponse]
	sendMu sync.Mutex

	mu      sync.Mutex
	pending map[string]*Pending
	broken  bool
}

// OpenStream opens the FetchStream wrapper; maxInFlight <= 0 means 256.
// With AffinityHost it keeps one stream per pool key (the stream's
// fetchpool-pool-key header is what ring_hash routes on), so each fetch
// rides to the replica its pool key hashes to.
func (c *Client) OpenStream(ctx context.Context, maxInFlight int) *FetchStream {
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	return &FetchStream{client: c, ctx: ctx, slots: make(chan struct{}, maxInFlight), lanes: map[string]*lane{}}
}

// Submit sends req and returns its Pending. While maxInFlight fetches are
// unanswered it blocks until one is answered (or ctx ends). A request
// without an id gets a unique one (on a copy; req is not changed).
func (s *FetchStream) Submit(ctx context.Context, req *fetchpoolv1.FetchRequest) (*Pending, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, contextError(ctx)
	case <-s.ctx.Done():
		return nil, contextError(s.ctx)
	}
	if req.GetId() == "" {
		req = proto.CloneOf(req)
		req.Id = "fp-" + strconv.FormatUint(s.nextID.Add(1), 10)
	}
	pending := &Pending{done: make(chan struct{})}
	l, err := s.laneFor(req.GetUrl(), req.GetId(), pending)
	if err != nil {
		<-s.slots
		return nil, err
	}
	l.sendMu.Lock()
	err = l.stream.Send(req)
	l.sendMu.Unlock()
	// A failed Send means the call is broken; the receive loop gets its
	// status and fails every pending fetch, this one included.
	_ = err
	return pending, nil
}

// laneKey: with affinity, the pool key (one stream per origin, routed by
// ring_hash on its header); else one stream for everything.
func (s *FetchStream) laneKey(rawURL string) (key string, hasKey bool) {
	if s.client.affinity != AffinityHost {
		return "", false
	}
	return PoolKey(rawURL)
}

// laneFor registers p under id on the open stream for rawURL, opening one
// if there is none or the last one broke, and returns that stream.
// Registering under s.mu keeps retire from half-closing the lane first.
func (s *FetchStream) laneFor(rawURL, id string, p *Pending) (*lane, error) {
	key, hasKey := s.laneKey(rawURL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errStreamClosed
	}
	if l := s.lanes[key]; l != nil {
		err := l.register(id, p)
		if err == nil {
			s.touch(key)
			return l, nil
		}
		if !l.isBroken() {
			return nil, err
		}
	}
	ctx := s.ctx
	if hasKey {
		ctx = metadata.AppendToOutgoingContext(ctx, PoolKeyHeader, key)
	}
	stream, err := s.client.api.FetchStream(ctx)
	if err != nil {
		return nil, errorFromCall(err, nil)
	}
	l := &lane{stream: stream, pending: map[string]*Pending{id: p}}
	s.lanes[key] = l
	s.touch(key)
	s.all.Add(1)
	go s.receive(l)
	s.retireIdleLanes()
	return l, nil
}

// touch moves key to the most recently used end of s.order.
func (s *FetchStream) touch(key string) {
	for i, k := range s.order {
		if k == key {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	s.order = append(s.order, key)
}

// retireIdleLanes half-closes the least recently used lanes beyond
// maxAffinityLanes that owe no answers (a busy one stays until it is idle).
func (s *FetchStream) retireIdleLanes() {
	for i := 0; len(s.order) > maxAffinityLanes && i < len(s.order); {
		key := s.order[i]
		l := s.lanes[key]
		if !l.idle() {
			i++
			continue
		}
		delete(s.lanes, key)
		s.order = append(s.order[:i], s.order[i+1:]...)
		l.sendMu.Lock()
		_ = l.stream.CloseSend()
		l.sendMu.Unlock()
	}
}

func (l *lane) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending) == 0 || l.broken
}

func (l *lane) isBroken() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.broken
}

func (l *lane) register(id string, p *Pending) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken {
		return &Error{Code: codes.Unavailable, Message: "the FetchStream broke; submit again"}
	}
	if _, dup := l.pending[id]; dup {
		return &Error{Code: codes.InvalidArgument, Message: "id " + strconv.Quote(id) + " is already in flight on this stream"}
	}
	l.pending[id] = p
	return nil
}

// take removes and returns the Pending of id (nil for an unknown id).
func (l *lane) take(id string) *Pending {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending[id]
	delete(l.pending, id)
	return p
}

// receive delivers the lane's answers until the call ends, then fails what
// is still unanswered with the call's status.
func (s *FetchStream) receive(l *lane) {
	defer s.all.Done()
	for {
		resp, err := l.stream.Recv()
		if err != nil {
			s.breakLane(l, err)
			return
		}
		p := l.take(resp.GetId())
		if p == nil {
			continue
		}
		if resp.GetError() != nil {
			p.finish(nil, errorFromFetchError(resp.GetError()))
		} else {
			p.finish(resp, nil)
		}
		<-s.slots
	}
}

func (s *FetchStream) breakLane(l *lane, err error) {
	failure := errorFromCall(err, l.stream.Trailer())
	if errors.Is(err, io.EOF) {
		failure = &Error{Code: codes.Unavailable, Message: "the FetchStream ended before answering"}
	}
	l.mu.Lock()
	l.broken = true
	unanswered := l.pending
	l.pending = map[string]*Pending{}
	l.mu.Unlock()
	for _, p := range unanswered {
		p.finish(nil, failure)
		<-s.slots
	}
}

// Close half-closes every stream and waits until the outstanding answers are
// in (or the stream's context ends). Submit fails after Close.
func (s *FetchStream) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, l := range s.lanes {
		l.sendMu.Lock()
		_ = l.stream.CloseSend()
		l.sendMu.Unlock()
	}
	s.mu.Unlock()
	s.all.Wait()
	return nil
}

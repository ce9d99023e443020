package fetchpool

import (
	"context"
	"io"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fetchpool/fetchpool/client-sdk/go/fetchpoolv1"
)

// breakingStreamServer breaks its first FetchStream with UNAVAILABLE after
// reading breakAfter requests (answering none); streams echo the url
// into the body, in reverse order of a batch, to check the id matching.
type breakingStreamServer struct {
	scriptedServer
	mu         sync.Mutex
	streams    int
	breakAfter int
	poolKeys   [][]string
}

func (s *breakingStreamServer) FetchStream(stream grpc.BidiStreamingServer[fetchpoolv1.FetchRequest, fetchpoolv1.FetchResponse]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	s.mu.Lock()
	s.streams++
	first := s.streams == 1
	s.poolKeys = append(s.poolKeys, md.Get(PoolKeyHeader))
	s.mu.Unlock()
	var batch []*fetchpoolv1.FetchRequest
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		batch = append(batch, req)
		if first && len(batch) == s.breakAfter {
			return status.Error(codes.Unavailable, "stream broken on purpose")
		}
		if len(batch) == 3 {
			for i := len(batch) - 1; i >= 0; i-- {
				if err := stream.Send(&fetchpoolv1.FetchResponse{Status: 200, Id: batch[i].GetId(), Body: []byte(batch[i].GetUrl())}); err != nil {
					return err
				}
			}
			batch = nil
		}
	}
	for _, req := range batch {
		stream.Send(&fetchpoolv1.FetchResponse{Id: req.GetId(), Error: &fetchpoolv1.FetchError{
			Code: int32(codes.Unavailable), Reason: "SHUTTING_DOWN", Message: "draining"}})
	}
	return nil
}

func TestStreamBreakFailsPendingAndReopens(t *testing.T) {
	srv := &breakingStreamServer{breakAfter: 2}
	client := startScripted(t, srv)
	stream := client.OpenStream(context.Background(), 8)
	var broken []*Pending
	for i := 0; i < 2; i++ {
		p, err := stream.Submit(context.Background(), &fetchpoolv1.FetchRequest{Url: "http://a/" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		broken = append(broken, p)
	}
	for _, p := range broken {
		if _, err := p.Wait(context.Background()); CodeOf(err) != codes.Unavailable {
			t.Fatalf("a fetch on a broken stream: %v, want UNAVAILABLE", err)
		}
	}
	var next []*Pending
	for i := 0; i < 4; i++ {
		p, err := stream.Submit(context.Background(), &fetchpoolv1.FetchRequest{Url: "http://b/" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		next = append(next, p)
	}
	for i, p := range next[:3] {
		resp, err := p.Wait(context.Background())
		if err != nil || string(resp.GetBody()) != "http://b/"+strconv.Itoa(i) {
			t.Fatalf("fetch %d on the new stream: %v %q", i, err, resp.GetBody())
		}
	}
	// The fourth is answered with an error when Close half-closes.
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := next[3].Wait(context.Background()); ReasonOf(err) != "SHUTTING_DOWN" || CodeOf(err) != codes.Unavailable {
		t.Fatalf("a FetchResponse.error: %v", err)
	}
	if srv.streams != 2 {
		t.Fatalf("%d streams opened, want 2", srv.streams)
	}
}

func TestAffinityStreamPerPoolKey(t *testing.T) {
	srv := &breakingStreamServer{breakAfter: 1 << 30}
	client := startScripted(t, srv, WithAffinity(AffinityHost))
	stream := client.OpenStream(context.Background(), 8)
	var pendings []*Pending
	for _, url := range []string{"http://a/1", "http://b/1", "http://a/2", "http://b/2", "http://a/3", "http://b/3"} {
		p, err := stream.Submit(context.Background(), &fetchpoolv1.FetchRequest{Url: url})
		if err != nil {
			t.Fatal(err)
		}
		pendings = append(pendings, p)
	}
	for _, p := range pendings {
		if _, err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	stream.Close()
	if len(srv.poolKeys) != 2 || len(srv.poolKeys[0]) != 1 || len(srv.poolKeys[1]) != 1 ||
		srv.poolKeys[0][0] == srv.poolKeys[1][0] {
		t.Fatalf("streams' pool keys %q, want one stream each for http://a:80 and http://b:80", srv.poolKeys)
	}
}

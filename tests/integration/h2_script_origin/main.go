// h2_script_origin is a cleartext HTTP/2 origin (h2c, prior knowledge)
// that sends GOAWAY while request streams are in flight, in ways nginx
// cannot be made to (issue 14; tests/integration/http2_goaway_test.cc).
// It speaks HTTP/2 frame by frame on golang.org/x/net/http2's Framer, so
// the test decides exactly when GOAWAY goes out and which streams are
// answered.
//
// It listens on 127.0.0.1:0 and prints its port as stdout's first line.
// Each request that has arrived whole, and each it processes (answers), is
// one line of the -log file:
//
//	arrived conn=1 stream=3 method=POST id=f3
//	request conn=1 stream=3 method=POST id=f3
//
// and each GOAWAY it sends is one line too:
//
//	goaway conn=1 last_stream=5 streams=8
//
// The response body is "<method> <id> <request body>", so the caller can
// tell its own answer. The request id is the x-request-id header.
//
// Scenarios (-scenario), all about the first connection; later connections
// serve every request as it completes:
//
//	goaway-inflight   once -k requests have arrived (or -wait passed):
//	                  GOAWAY(last = the -last-th stream, NO_ERROR); after
//	                  -delay, the streams up to last are answered, those
//	                  above never are; then the connection is closed.
//	goaway-graceful   the two-step shutdown of RFC 9113 6.8: GOAWAY(2^31-1),
//	                  PING, and after the PING's ack GOAWAY(last) as above.
//	goaway-then-close GOAWAY(last) and the connection closed at once: no
//	                  stream of it is answered.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var (
	scenario = flag.String("scenario", "goaway-inflight", "goaway-inflight, goaway-graceful or goaway-then-close")
	logPath  = flag.String("log", "", "file that gets one line per processed request and per GOAWAY")
	k        = flag.Int("k", 6, "requests to have in flight on the first connection before GOAWAY")
	lastNth  = flag.Int("last", 3, "GOAWAY's last-stream-id is the id of this (1-based) request stream")
	wait     = flag.Duration("wait", 3*time.Second, "GOAWAY anyway this long after the first request arrived")
	delay    = flag.Duration("delay", 200*time.Millisecond, "time between GOAWAY and the answers")
)

// logFile is shared by every connection; one Fprintf per line.
var (
	logMu   sync.Mutex
	logFile io.Writer = io.Discard
)

func logLine(format string, args ...any) {
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Fprintf(logFile, format+"\n", args...)
}

type stream struct {
	method, id string
	body       bytes.Buffer
	complete   bool // END_STREAM seen: the request is all here
	answered   bool
}

// conn is one client connection. The reader goroutine owns the framer's
// read side; every write goes through mu (the Framer is not safe for
// concurrent writes, and the hpack encoder keeps state).
type conn struct {
	n       int64 // connection number, from 1
	nc      net.Conn
	mu      sync.Mutex
	fr      *http2.Framer
	henc    *hpack.Encoder
	hbuf    bytes.Buffer
	streams map[uint32]*stream
	order   []uint32 // stream ids as their HEADERS arrived
	// Scripted (first connection only): serve streams <= last once answer
	// is set; never serve those above it.
	scripted  bool
	goaway    bool
	last      uint32
	answer    bool
	pingAcked chan struct{}
	started   bool
}

func main() {
	flag.Parse()
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		logFile = f
	}
	switch *scenario {
	case "goaway-inflight", "goaway-graceful", "goaway-then-close":
	default:
		log.Fatalf("unknown -scenario %q", *scenario)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	var conns atomic.Int64
	for {
		nc, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		c := &conn{n: conns.Add(1), nc: nc, streams: map[uint32]*stream{}, pingAcked: make(chan struct{}, 1)}
		c.scripted = c.n == 1
		go c.serve()
	}
}

func (c *conn) serve() {
	defer c.nc.Close()
	r := bufio.NewReader(c.nc)
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(r, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	c.fr = http2.NewFramer(c.nc, r)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.write(func() error {
		return c.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
	})
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return // the client closed, or we did (scripted close)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.write(c.fr.WriteSettingsAck)
			}
		case *http2.PingFrame:
			if f.IsAck() {
				c.pingAcked <- struct{}{}
			} else {
				c.write(func() error { return c.fr.WritePing(true, f.Data) })
			}
		case *http2.MetaHeadersFrame:
			c.onHeaders(f)
		case *http2.DataFrame:
			c.onData(f)
		}
	}
}

// write runs one framer write under the lock; a failed write (the client
// went away) ends the connection through the reader.
func (c *conn) write(w func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := w(); err != nil {
		c.nc.Close()
	}
}

func (c *conn) onHeaders(f *http2.MetaHeadersFrame) {
	s := &stream{method: f.PseudoValue("method")}
	for _, h := range f.RegularFields() {
		if h.Name == "x-request-id" {
			s.id = h.Value
		}
	}
	c.mu.Lock()
	c.streams[f.StreamID] = s
	c.order = append(c.order, f.StreamID)
	c.mu.Unlock()
	if f.StreamEnded() {
		c.onComplete(f.StreamID)
	}
}

func (c *conn) onData(f *http2.DataFrame) {
	c.mu.Lock()
	s := c.streams[f.StreamID]
	if s != nil {
		s.body.Write(f.Data())
	}
	// Give the window back, so bodies of any size keep coming.
	if n := uint32(len(f.Data())); n > 0 {
		c.fr.WriteWindowUpdate(0, n)
		c.fr.WriteWindowUpdate(f.StreamID, n)
	}
	c.mu.Unlock()
	if f.StreamEnded() && s != nil {
		c.onComplete(f.StreamID)
	}
}

// onComplete: a request is all here. Unscripted connections answer it now;
// the first one counts it toward the GOAWAY and answers it once allowed.
func (c *conn) onComplete(id uint32) {
	c.mu.Lock()
	s := c.streams[id]
	s.complete = true
	logLine("arrived conn=%d stream=%d method=%s id=%s", c.n, id, s.method, s.id)
	if !c.scripted {
		c.mu.Unlock()
		c.respond(id)
		return
	}
	complete := 0
	for _, s := range c.streams {
		if s.complete {
			complete++
		}
	}
	start := !c.started && (complete >= *k)
	first := !c.started && complete == 1
	late := c.answer && id <= c.last
	if start {
		c.started = true
	}
	c.mu.Unlock()
	switch {
	case start:
		go c.script()
	case first:
		time.AfterFunc(*wait, func() {
			c.mu.Lock()
			run := !c.started
			c.started = true
			c.mu.Unlock()
			if run {
				c.script()
			}
		})
	case late:
		c.respond(id) // at or below last, its body came after the GOAWAY
	}
}

// script is the first connection's GOAWAY, then its answers and its close.
func (c *conn) script() {
	c.mu.Lock()
	ids := append([]uint32(nil), c.order...)
	c.mu.Unlock()
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	last := ids[min(*lastNth, len(ids))-1]
	if *scenario == "goaway-graceful" {
		c.sendGoAway(1<<31-1, len(ids))
		c.write(func() error { return c.fr.WritePing(false, [8]byte{'g', 'r', 'a', 'c', 'e'}) })
		select {
		case <-c.pingAcked:
		case <-time.After(*wait):
		}
	}
	c.mu.Lock()
	c.last = last
	c.mu.Unlock()
	c.sendGoAway(last, len(ids))
	if *scenario == "goaway-then-close" {
		c.closeWrite()
		return
	}
	time.Sleep(*delay)
	c.mu.Lock()
	c.answer = true
	var due []uint32
	for _, id := range ids {
		if s := c.streams[id]; id <= last && s.complete && !s.answered {
			due = append(due, id)
		}
	}
	c.mu.Unlock()
	for _, id := range due {
		c.respond(id)
	}
	// Close once every stream up to last is answered (a body may still be
	// on its way), as a server does after GOAWAY.
	for deadline := time.Now().Add(*wait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		pending := 0
		for id, s := range c.streams {
			if id <= last && !s.answered {
				pending++
			}
		}
		c.mu.Unlock()
		if pending == 0 {
			break
		}
	}
	time.Sleep(*delay)
	c.closeWrite()
}

// closeWrite ends the connection with a FIN (the reader then sees the
// client close its end). A plain close with the client's last frames
// unread would send RST, which may throw away the GOAWAY in flight.
func (c *conn) closeWrite() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nc.(*net.TCPConn).CloseWrite()
}

func (c *conn) sendGoAway(last uint32, streams int) {
	c.write(func() error { return c.fr.WriteGoAway(last, http2.ErrCodeNo, nil) })
	logLine("goaway conn=%d last_stream=%d streams=%d", c.n, last, streams)
}

// respond answers stream id: 200, body "<method> <id> <request body>".
func (c *conn) respond(id uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[id]
	if s.answered {
		return
	}
	s.answered = true
	logLine("request conn=%d stream=%d method=%s id=%s", c.n, id, s.method, s.id)
	body := fmt.Sprintf("%s %s %s", s.method, s.id, s.body.String())
	c.hbuf.Reset()
	c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	c.henc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/plain"})
	c.henc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true})
	if err == nil {
		err = c.fr.WriteData(id, true, []byte(body))
	}
	if err != nil {
		c.nc.Close()
	}
}

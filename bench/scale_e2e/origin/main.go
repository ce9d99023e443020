// scaleorigin: the HTTP/1.1 origin of bench/scale_e2e/run.sh. Standard
// library only, so `go build` needs no module download.
//
//	scaleorigin [--listen=0.0.0.0:0] [--lifetime=10m]
//
// GET /sleep?ms=N answers 200 after N milliseconds; any other path answers
// 200 at once. Keep-alive is on with no idle limit, so every connection a
// client opens stays until the client closes it (10,000 are no trouble: one
// goroutine each). It listens on all IPv4 addresses so that every
// 127.x.y.z reaches it, but closes any connection whose peer is not a
// loopback address. GET /origin-stats answers {"open":..,"peak_open":..,
// "accepted":..}. The chosen port is printed as `port N` on stdout; the
// process exits by itself after --lifetime, or on SIGTERM/SIGINT.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

var open, peakOpen, accepted atomic.Int64

// loopbackOnly drops connections from anything but 127.0.0.0/8 and ::1.
type loopbackOnly struct{ net.Listener }

func (l loopbackOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok && a.IP.IsLoopback() {
			return c, nil
		}
		c.Close()
	}
}

func trackConn(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		accepted.Add(1)
		n := open.Add(1)
		for {
			p := peakOpen.Load()
			if n <= p || peakOpen.CompareAndSwap(p, n) {
				break
			}
		}
	case http.StateClosed, http.StateHijacked:
		open.Add(-1)
	}
}

func handle(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/sleep":
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
	case "/origin-stats":
		fmt.Fprintf(w, `{"open":%d,"peak_open":%d,"accepted":%d}`+"\n",
			open.Load(), peakOpen.Load(), accepted.Load())
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("ok\n"))
}

func main() {
	listen := flag.String("listen", "0.0.0.0:0", "address to listen on")
	lifetime := flag.Duration("lifetime", 10*time.Minute, "exit after this long")
	flag.Parse()

	ln, err := net.Listen("tcp4", *listen)
	if err != nil {
		log.Fatalf("listen %s: %v", *listen, err)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()

	srv := &http.Server{Handler: http.HandlerFunc(handle), ConnState: trackConn,
		ErrorLog: log.New(os.Stderr, "origin: ", 0)}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-stop:
		case <-time.After(*lifetime):
			log.Printf("origin: lifetime %v over, exiting", *lifetime)
		}
		os.Exit(0)
	}()
	log.Fatal(srv.Serve(loopbackOnly{ln}))
}

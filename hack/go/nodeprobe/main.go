// Command nodeprobe is what the real node's tests run in a pod: an HTTP server that answers probes,
// dials addresses on request (to show what the pod network reaches), and on SIGTERM records that it
// drains for a while and then stops, so a test can observe a graceful stop.
//
//	GET /healthz              200 "ok"
//	GET /dial?addr=HOST:PORT  200 "connected" if a TCP connection opens within 3 s, else 502 and why
//
// `nodeprobe echo WORDS...` prints the words and exits (what a test runs through `kubectl exec`).
//
// Settings: LISTEN (default ":8080"), DRAIN_SECONDS (default 2), EVENTS_FILE (optional: each event
// is appended there too, for a test to read after the pod is gone).
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func record(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	log.Print(line)
	if path := os.Getenv("EVENTS_FILE"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			log.Printf("cannot record to %s: %v", path, err)
			return
		}
		defer f.Close()
		fmt.Fprintln(f, line)
	}
}

func dial(w http.ResponseWriter, r *http.Request) {
	addr := r.URL.Query().Get("addr")
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn.Close()
	fmt.Fprintln(w, "connected")
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "echo" {
		fmt.Println(strings.Join(os.Args[2:], " "))
		return
	}
	listen := os.Getenv("LISTEN")
	if listen == "" {
		listen = ":8080"
	}
	drain := 2
	if v := os.Getenv("DRAIN_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			log.Fatalf("DRAIN_SECONDS=%q is not a number", v)
		}
		drain = n
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/dial", dial)
	server := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-stop
		record("received %v; draining for %ds", sig, drain)
		time.Sleep(time.Duration(drain) * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	record("listening on %s", listen)
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	record("stopped cleanly")
}

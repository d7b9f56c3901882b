// Command helper plays, inside the box's private network namespace, the two
// parts of a cluster's network that no process of the box provides:
//
//	helper registry ADDR                    an OCI registry (go-containerregistry's, in memory) on ADDR
//	helper proxy LISTEN=TARGET [LISTEN=TARGET …]  TCP forwarders, e.g. a Service's cluster IP and
//	                                        port to the local port its process listens on
//
// The API server calls a webhook at its Service's cluster IP and port (443);
// with no kube-proxy, a forwarder from there to the webhook process stands in.
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: helper registry ADDR | helper proxy LISTEN=TARGET …")
	}
	switch args[0] {
	case "registry":
		srv := &http.Server{
			Addr:              args[1],
			Handler:           registry.New(registry.Logger(log.New(io.Discard, "", 0))),
			ReadHeaderTimeout: 10 * time.Second,
		}
		return srv.ListenAndServe()
	case "proxy":
		errs := make(chan error, len(args)-1)
		for _, pair := range args[1:] {
			listen, target, ok := strings.Cut(pair, "=")
			if !ok {
				return fmt.Errorf("proxy %q: want LISTEN=TARGET", pair)
			}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("proxy: %w", err)
			}
			go func() { errs <- forward(l, target) }()
		}
		return <-errs
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// forward copies each connection accepted on l to a new connection to target.
func forward(l net.Listener, target string) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return fmt.Errorf("accept on %s: %w", l.Addr(), err)
		}
		go func() {
			defer c.Close()
			t, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				log.Printf("proxy %s → %s: %v", l.Addr(), target, err)
				return
			}
			defer t.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(t, c); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, t); done <- struct{}{} }()
			<-done
		}()
	}
}

package ports

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestFreeNamesTheHolder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	err = Free(ln.Addr().String())
	if err == nil {
		t.Fatal("Free of a held port: no error")
	}
	want := "port " + port
	if runtime.GOOS == "linux" {
		want = fmt.Sprintf("port %s (%s) is held by PID %d", port, ln.Addr(), os.Getpid())
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
}

func TestFreeOfAFreePort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := Free(addr); err != nil {
		t.Errorf("Free(%s) = %v, want nil", addr, err)
	}
}

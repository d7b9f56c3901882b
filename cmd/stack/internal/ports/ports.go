// Package ports checks, before the stack starts anything, that the ports it
// needs are free, and names the process that holds one that is not: usually
// the functions of an earlier stack, which must not be served silently.
package ports

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Free returns an error for the first address that cannot be listened on,
// naming the port and, where the system says (Linux), the PID and command
// line of the process holding it.
func Free(addrs ...string) error {
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			continue
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		_, port, _ := net.SplitHostPort(addr)
		if pid, cmd, ok := Holder(port); ok {
			return fmt.Errorf("port %s (%s) is held by PID %d (%s): stop it first", port, addr, pid, cmd)
		}
		return fmt.Errorf("port %s (%s) is in use by another process: stop it first", port, addr)
	}
	return nil
}

// Holder finds a process with a TCP socket bound to port: the socket's inode
// from /proc/net/tcp{,6} (a listener preferred), then the process with a
// file descriptor on that inode. ok is false where /proc does not say.
func Holder(port string) (pid int, cmdline string, ok bool) {
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, "", false
	}
	inodes := socketInodes(uint16(p))
	for _, inode := range inodes {
		if pid, ok := owner(inode); ok {
			return pid, command(pid), true
		}
	}
	return 0, "", false
}

// socketInodes returns the inodes of the sockets bound to port, listeners first.
func socketInodes(port uint16) []string {
	const listen = "0A"
	var listeners, others []string
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			local := f[1]
			i := strings.LastIndexByte(local, ':')
			if i < 0 || local[i+1:] != fmt.Sprintf("%04X", port) || f[9] == "0" {
				continue
			}
			if f[3] == listen {
				listeners = append(listeners, f[9])
			} else {
				others = append(others, f[9])
			}
		}
	}
	return append(listeners, others...)
}

// owner finds a process with a file descriptor on the socket inode. Processes
// of other users cannot be looked into and are skipped.
func owner(inode string) (int, bool) {
	want := "socket:[" + inode + "]"
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == want {
			pid, err := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid, err == nil
		}
	}
	return 0, false
}

// command returns a process's command line, its arguments joined by spaces.
func command(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return "unknown command"
	}
	cmd := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "\x00", " ")), " ")
	if len(cmd) > 120 { // a long command line would bury the message
		cmd = cmd[:120] + "…"
	}
	return cmd
}

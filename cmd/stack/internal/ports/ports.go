// Package ports checks, before the stack starts anything, that the ports it
// needs are free, and names the process that holds one that is not: usually
// the functions of an earlier stack, which must not be served silently.
package ports

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/procfs"
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
	fs, ferr := procfs.NewDefaultFS()
	if err != nil || ferr != nil {
		return 0, "", false
	}
	const listen = 0x0A
	var listeners, others []uint64
	// procfs deprecates NetTCP for netlink's sock_diag; for the one lookup
	// made when a port is held, /proc/net/tcp is enough and needs no socket.
	//lint:ignore SA1019 see above
	for _, read := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		lines, _ := read()
		for _, l := range lines {
			switch {
			case l.LocalPort != p || l.Inode == 0:
			case l.St == listen:
				listeners = append(listeners, l.Inode)
			default:
				others = append(others, l.Inode)
			}
		}
	}
	procs, _ := fs.AllProcs()
	for _, inode := range append(listeners, others...) {
		want := fmt.Sprintf("socket:[%d]", inode)
		for _, proc := range procs {
			// Processes of other users cannot be looked into and are skipped.
			if targets, err := proc.FileDescriptorTargets(); err == nil && slices.Contains(targets, want) {
				return proc.PID, command(proc), true
			}
		}
	}
	return 0, "", false
}

// command returns a process's command line, its arguments joined by spaces.
func command(p procfs.Proc) string {
	args, err := p.CmdLine()
	if err != nil || len(args) == 0 {
		return "unknown command"
	}
	cmd := strings.Join(args, " ")
	if len(cmd) > 120 { // a long command line would bury the message
		cmd = cmd[:120] + "…"
	}
	return cmd
}

package localstack

import "syscall"

// sysProcAttr gives the stack a process group of its own, so a stop can
// reach its functions too, and has the kernel kill it when this process
// dies: a test that fails hard leaves no stack holding the ports.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

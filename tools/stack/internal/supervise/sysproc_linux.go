package supervise

import "syscall"

// sysProcAttr puts the function in a process group of its own, so a stop
// reaches whatever it started too, and asks the kernel to kill it when the
// stack dies: even a kill -9 of the stack leaves no orphan holding a port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package supervise

import "syscall"

// sysProcAttr puts the function in a process group of its own. Outside
// Linux there is no parent-death signal: a kill -9 of the stack may leave
// the function running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

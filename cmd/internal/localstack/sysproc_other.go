//go:build !linux

package localstack

import "syscall"

// sysProcAttr gives the stack a process group of its own; only Linux has a
// parent-death signal.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// profile starts a CPU profile and block profiling of this process when
// PROFILE_DIR names a directory (make bench sets it), and returns what
// writes them there at exit: <function>-<pid>-cpu.pprof and -block.pprof.
// Without PROFILE_DIR it does nothing, so a function pays nothing for it.
func profile() (stop func()) {
	dir := os.Getenv("PROFILE_DIR")
	if dir == "" {
		return func() {}
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", os.Getenv("FUNCTION"), os.Getpid()))
	cpu, err := os.Create(base + "-cpu.pprof")
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		cpu.Close()
		return func() {}
	}
	// One sample per 10 µs spent blocked: enough to see lock and channel
	// waits under load without slowing the hot path much.
	runtime.SetBlockProfileRate(10_000)
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		if f, err := os.Create(base + "-block.pprof"); err == nil {
			pprof.Lookup("block").WriteTo(f, 0)
			f.Close()
		}
	}
}

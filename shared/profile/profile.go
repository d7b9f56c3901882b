// Package profile writes a CPU and a block profile of a whole process run
// when PROFILE_DIR names a directory (`make bench` sets it for the stack and
// the functions), so every process under load can be read with pprof.
package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// Start starts a CPU profile and block profiling of this process when
// PROFILE_DIR is set, and returns what writes them at exit to
// <name>-<pid>-cpu.pprof and <name>-<pid>-block.pprof there. Without
// PROFILE_DIR it does nothing, so a process pays nothing for it.
func Start(name string) (stop func()) {
	dir := os.Getenv("PROFILE_DIR")
	if dir == "" {
		return func() {}
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", name, os.Getpid()))
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

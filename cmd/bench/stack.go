package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stack is a running bin/stack: the three functions, the dispatchers and the
// gateway, on the bench's servers.
type stack struct {
	cmd     *exec.Cmd
	done    chan error
	gateway string // http://host:port
	log     string
}

// startStack runs bin/stack with warm functions (scale to zero would put cold
// starts into the load figures; they are measured on their own) and waits
// until every function answers through the gateway.
func (b *bench) startStack(ctx context.Context) (*stack, error) {
	p := b.cfg.FirstPort
	abs, _ := filepath.Abs(b.cfg.Root)
	data, err := os.MkdirTemp("", "bench-stack")
	if err != nil {
		return nil, err
	}
	profiles, _ := filepath.Abs(filepath.Join(b.cfg.Out, "profiles"))
	if err := os.MkdirAll(profiles, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(b.cfg.Out, "stack.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.stack)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+b.cfg.AdminURL,
		"KAFKA_BROKERS="+b.cfg.Brokers,
		fmt.Sprintf("GATEWAY_ADDR=127.0.0.1:%d", p),
		fmt.Sprintf("FUNCTION_PORT=%d", p+1),
		fmt.Sprintf("DISPATCH_METRICS_ADDR=127.0.0.1:%d", p+5),
		"REPO_ROOT="+abs,
		"FUNCTION_BIN="+filepath.Join(abs, "bin", "function"),
		"DATA_DIR="+data,
		"LOG_LEVEL=warn",
		"WARM=1",
		// Each function writes a CPU and a block profile of its whole run
		// there when the stack stops it (cmd/function).
		"PROFILE_DIR="+profiles,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start bin/stack: %w", err)
	}
	s := &stack{cmd: cmd, done: make(chan error, 1), gateway: fmt.Sprintf("http://127.0.0.1:%d", p), log: logPath}
	go func() { s.done <- cmd.Wait(); logFile.Close() }()
	if err := b.waitStack(ctx, s); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitStack polls a read route of each function through the gateway.
func (b *bench) waitStack(ctx context.Context, s *stack) error {
	routes := []string{"/order/api/items", "/shipping/api/shipments", "/invoicing/api/invoices"}
	deadline := time.Now().Add(2 * time.Minute)
	for _, route := range routes {
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.gateway+route, nil)
			if resp, err := b.client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case err := <-s.done:
				s.done <- err
				out, _ := os.ReadFile(s.log)
				return fmt.Errorf("bin/stack exited (%v): %s", err, lastLines(string(out), 10))
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("stack not ready after 2 min (log in %s)", s.log)
			}
		}
	}
	return nil
}

func (s *stack) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// processes maps each part of the pipeline to its PID: the functions by
// their FUNCTION variable, and the stack itself (dispatchers and gateway).
func (s *stack) processes() map[string]int {
	pids := map[string]int{"stack": s.cmd.Process.Pid}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || parentOf(pid) != s.cmd.Process.Pid {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		// The last FUNCTION= wins, as it does for the process itself.
		for _, kv := range bytes.Split(env, []byte{0}) {
			if name, ok := strings.CutPrefix(string(kv), "FUNCTION="); ok {
				pids[name] = pid
			}
		}
	}
	return pids
}

func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mskafka/knative-functions/cmd/internal/localstack"
)

// startStack runs bin/stack with warm functions (scale to zero would put cold
// starts into the load figures; they are measured on their own) and waits
// until every function answers through the gateway.
func (b *bench) startStack(ctx context.Context) (*localstack.Stack, error) {
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
	defer logFile.Close() // the stack has its own descriptor
	st, err := localstack.Start(ctx, localstack.Options{Bin: b.stack, Layout: localstack.At(b.cfg.FirstPort), Out: logFile,
		Env: append(os.Environ(),
			"DATABASE_URL="+b.cfg.AdminURL,
			"KAFKA_BROKERS="+b.cfg.Brokers,
			"REPO_ROOT="+abs,
			"FUNCTION_BIN="+filepath.Join(abs, "bin", "function"),
			"DATA_DIR="+data,
			"LOG_LEVEL=warn",
			"WARM=1",
			// Each function writes a CPU and a block profile of its whole run
			// there when the stack stops it (cmd/function).
			"PROFILE_DIR="+profiles,
		)})
	if err != nil {
		out, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w: %s (log in %s)", err, lastLines(string(out), 10), logPath)
	}
	return st, nil
}

// processes maps each part of the pipeline to its PID, as the stack tells
// them: the functions, and the stack itself (dispatchers and gateway).
func processes(st *localstack.Stack) map[string]int {
	pids := map[string]int{"stack": st.PID()}
	for _, name := range localstack.Roster() {
		if pid, err := st.FunctionPID(name); err == nil {
			pids[name] = pid
		}
	}
	return pids
}

// stopStack stops the stack, its functions writing their profiles.
func stopStack(st *localstack.Stack) { st.Stop(30 * time.Second) }

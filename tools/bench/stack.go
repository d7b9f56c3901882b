package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mskafka/knative-functions/tools/internal/localstack"
)

// stackRun says which stack to start: by default this checkout's, on the
// bench's database; the comparison runs another's.
type stackRun struct {
	log         string   // its output, under the results directory
	root        string   // the checkout whose infra/ and func.yaml files it reads
	stack, fn   string   // bin/stack and bin/function
	databaseURL string   // admin URL of its database
	env         []string // besides the servers': WARM=1, SCALE_TO_ZERO_IDLE, …
}

// ownStack is this checkout's stack with the given extra environment.
func (b *bench) ownStack(log string, env ...string) stackRun {
	abs, _ := filepath.Abs(b.cfg.Root)
	return stackRun{log: log, root: abs, stack: b.stack, fn: filepath.Join(abs, "bin", "function"), databaseURL: b.cfg.AdminURL, env: env}
}

// startStack runs a stack and waits until every function answers through
// the gateway. The load steps run it with warm functions (scale to zero
// would put cold starts into the load figures; they are measured apart).
func (b *bench) startStack(ctx context.Context, r stackRun) (*localstack.Stack, error) {
	data, err := os.MkdirTemp("", "bench-stack")
	if err != nil {
		return nil, err
	}
	profiles, _ := filepath.Abs(filepath.Join(b.cfg.Out, "profiles"))
	if err := os.MkdirAll(profiles, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(b.cfg.Out, r.log)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the stack has its own descriptor
	st, err := localstack.Start(ctx, localstack.Options{Bin: r.stack, Layout: localstack.At(b.cfg.FirstPort), Out: logFile,
		Env: append(append(os.Environ(),
			"DATABASE_URL="+r.databaseURL,
			"KAFKA_BROKERS="+b.cfg.Brokers,
			"REPO_ROOT="+r.root,
			"FUNCTION_BIN="+r.fn,
			"DATA_DIR="+data,
			"LOG_LEVEL=warn",
			// Each function writes a CPU and a block profile of its whole run
			// there when the stack stops it (cmd/function).
			"PROFILE_DIR="+profiles,
		), r.env...)})
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

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/procfs"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/tools/internal/localstack"
)

// bench holds what the steps share: the servers, the binaries, the report.
type bench struct {
	cfg    config
	out    io.Writer
	admin  *pgxpool.Pool
	bin    string // bin/function
	client *http.Client
	report *Report
	// own counts the transactions bench itself runs on the database, so that
	// they can be taken out of the pipeline's commits and round trips.
	own      int64
	migrated bool  // every function has started once (migrate)
	keys     bool  // every order fire sends has an Idempotency-Key, naming the call
	fired    int64 // fire's calls
}

func newBench(ctx context.Context, cfg config, out io.Writer) (*bench, error) {
	b := &bench{
		cfg: cfg, out: out,
		bin: filepath.Join(cfg.Root, "bin", "function"),
		// Open model: every request has its own connection when it needs one,
		// and idle ones are kept, so the client is never the bottleneck.
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute,
		}},
		report: &Report{Machine: machine(), Started: time.Now().UTC()},
	}
	for _, p := range []string{b.bin, filepath.Join(cfg.Root, "bin", "stack")} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: %w (make build)", p, err)
		}
	}
	if err := db.Provision(ctx, cfg.AdminURL, db.Roles()...); err != nil {
		return nil, fmt.Errorf("prepare database: %w", err)
	}
	pool, err := pgxpool.New(ctx, cfg.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", db.Redact(cfg.AdminURL), err)
	}
	b.admin = pool
	return b, nil
}

// functionEnv is the environment of one function process, as the stack
// gives it: it connects to the database as its own role.
func (b *bench) functionEnv(name, addr string) []string {
	dbURL, err := db.WithUser(b.cfg.AdminURL, db.Role(name), "")
	if err != nil {
		panic(err) // the admin URL parsed when the pool was made
	}
	return append(os.Environ(),
		"FUNCTION="+name,
		"LISTEN_ADDRESS="+addr,
		"DATABASE_URL="+dbURL,
		"KAFKA_BROKERS="+b.cfg.Brokers,
		"LOG_LEVEL=warn",
	)
}

// stackRun says which stack to start: by default this checkout's, on the
// bench's database; the comparison runs another's.
type stackRun struct {
	log         string   // its output, under the results directory
	root        string   // the checkout: its bin/, infra/ and func.yaml files
	databaseURL string   // admin URL of its database
	env         []string // besides the servers': WARM=1, SCALE_TO_ZERO_IDLE, …; these win
}

// ownStack is this checkout's stack with the given extra environment.
func (b *bench) ownStack(log string, env ...string) stackRun {
	abs, _ := filepath.Abs(b.cfg.Root)
	return stackRun{log: log, root: abs, databaseURL: b.cfg.AdminURL, env: env}
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
	st, err := localstack.Start(ctx, localstack.Options{Bin: filepath.Join(r.root, "bin", "stack"), Layout: localstack.At(b.cfg.FirstPort), Out: logFile,
		Env: append(append(os.Environ(),
			"DATABASE_URL="+r.databaseURL,
			"KAFKA_BROKERS="+b.cfg.Brokers,
			"REPO_ROOT="+r.root,
			"FUNCTION_BIN="+filepath.Join(r.root, "bin", "function"),
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

// stopStack stops the stack, its functions writing their profiles.
func stopStack(st *localstack.Stack) { st.Stop(30 * time.Second) }

// procStat reads what /proc tells of pid: its CPU seconds (CPUTime) and
// its resident memory (ResidentMemory).
func procStat(pid int) (procfs.ProcStat, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	return p.Stat()
}

// machine describes where the figures come from.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU()}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return m
	}
	if cpus, err := fs.CPUInfo(); err == nil && len(cpus) > 0 {
		m.CPU = cpus[0].ModelName
	}
	if mem, err := fs.Meminfo(); err == nil && mem.MemTotal != nil {
		m.MemoryGiB = float64(*mem.MemTotal) / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

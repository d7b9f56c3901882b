package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/db"
)

// functionNames in a fixed order, for stable reports.
var functionNames = []string{"order", "shipping", "invoicing"}

// bench holds what the steps share: the servers, the binaries, the report.
type bench struct {
	cfg    config
	out    io.Writer
	admin  *pgxpool.Pool
	bin    string // bin/function
	stack  string // bin/stack
	client *http.Client
	report *Report
	// own counts the transactions bench itself runs on the database, so that
	// they can be taken out of the pipeline's commit count.
	own int64
	// migrated is set once every function has started once (migrate).
	migrated bool
	// pgPort and kafkaPort are where Postgres and the broker listen, for
	// counting the requests they receive (0: unknown).
	pgPort, kafkaPort int
}

func newBench(ctx context.Context, cfg config, out io.Writer) (*bench, error) {
	b := &bench{
		cfg: cfg, out: out,
		bin:   filepath.Join(cfg.Root, "bin", "function"),
		stack: filepath.Join(cfg.Root, "bin", "stack"),
		// Open model: every request has its own connection when it needs one,
		// and idle ones are kept, so the client is never the bottleneck.
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute,
		}},
		report: &Report{Machine: machine(), Started: time.Now().UTC()},
	}
	if u, err := url.Parse(cfg.AdminURL); err == nil {
		b.pgPort, _ = strconv.Atoi(u.Port())
	}
	if _, port, err := net.SplitHostPort(strings.Split(cfg.Brokers, ",")[0]); err == nil {
		b.kafkaPort, _ = strconv.Atoi(port)
	}
	for _, p := range []string{b.bin, b.stack} {
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

func (b *bench) close() { b.admin.Close() }

// databaseURL is the URL function connects with: as its own role.
func (b *bench) databaseURL(function string) string {
	u, err := db.WithUser(b.cfg.AdminURL, db.Role(function), "")
	if err != nil {
		panic(err) // the admin URL parsed when the pool was made
	}
	return u
}

// functionEnv is the environment of one function process, as the stack
// gives it.
func (b *bench) functionEnv(name, addr string) []string {
	return append(os.Environ(),
		"FUNCTION="+name,
		"LISTEN_ADDRESS="+addr,
		"DATABASE_URL="+b.databaseURL(name),
		"KAFKA_BROKERS="+b.cfg.Brokers,
		"LOG_LEVEL=warn",
	)
}

// procStat is what /proc tells of a process: CPU time and resident memory.
type procStat struct {
	CPU      time.Duration
	ChildCPU time.Duration // of its children that have exited and been waited for
	RSS      int64         // bytes
}

// readProc reads the user+system CPU time and the resident set of pid.
func readProc(pid int) (procStat, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) may hold spaces; the fields after its ')' do not.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if len(fields) < 22 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	cutime, _ := strconv.ParseInt(fields[13], 10, 64)
	cstime, _ := strconv.ParseInt(fields[14], 10, 64)
	rssPages, _ := strconv.ParseInt(fields[21], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return procStat{
		CPU:      time.Duration(utime+stime) * time.Second / ticks,
		ChildCPU: time.Duration(cutime+cstime) * time.Second / ticks,
		RSS:      rssPages * int64(os.Getpagesize()),
	}, nil
}

// machine describes where the figures come from.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		m.MemoryGiB = float64(kb) / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

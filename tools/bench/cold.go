package main

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/tools/internal/localstack"
	"github.com/mskafka/knative-functions/tools/internal/orderapi"
	"github.com/mskafka/knative-functions/tools/internal/wait"
)

// migrate starts each function once, unmeasured, so that its migrations
// are applied: the cold starts measure a function whose schema exists, as
// on a cluster, and the bound's SQL needs the tables.
func (b *bench) migrate(ctx context.Context) error {
	if b.migrated {
		return nil
	}
	for _, name := range localstack.Roster() {
		if _, _, err := b.startOnce(ctx, name, b.probeReady); err != nil {
			return fmt.Errorf("%s: first start: %w", name, err)
		}
	}
	b.migrated = true
	return nil
}

// coldStarts starts each function cfg.ColdRuns times from nothing, as
// Knative does when a request arrives at a function scaled to zero, and
// measures exec → readiness 200 and exec → first event stored.
func (b *bench) coldStarts(ctx context.Context) error {
	if err := b.migrate(ctx); err != nil {
		return err
	}
	for _, name := range localstack.Roster() {
		var ready, first []time.Duration
		var rss []int64
		for i := range b.cfg.ColdRuns {
			r, m, err := b.startOnce(ctx, name, b.probeReady)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			ready, rss = append(ready, r), append(rss, m)
			// Ids far above any the pipeline reaches keep these apart from its orders.
			f, _, err := b.startOnce(ctx, name, func(ctx context.Context, base string) error {
				return b.firstWork(ctx, base, name, i, int64(900_000_000+i))
			})
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			first = append(first, f)
		}
		c := ColdStart{
			Function: name, Runs: b.cfg.ColdRuns,
			ReadyMs: ms(median(ready)), FirstEventMs: ms(median(first)), IdleRSSMiB: mib(median(rss)),
		}
		b.report.ColdStarts = append(b.report.ColdStarts, c)
		fmt.Fprintf(b.out, "  %-9s exec → ready %.1f ms, exec → first event stored %.1f ms, idle RSS %.1f MiB (medians of %d)\n",
			name, c.ReadyMs, c.FirstEventMs, c.IdleRSSMiB, c.Runs)
	}
	return b.heldStarts(ctx)
}

// heldStarts measures cold start as a user meets it: a request sent to a
// function scaled to zero, held by the stack's activator while the
// function starts, then forwarded and answered. The sender times it, so it
// holds the hold, exec, readiness and the request's own work. The sinks go
// first: order's orders wake them through Kafka. A short idle period lets
// twenty starts per function take seconds. Besides sent → answered it
// reports exec → answered: the stack's state file says when it started
// the instance that answered.
func (b *bench) heldStarts(ctx context.Context) error {
	// No profiles here: a CPU profile started in each instance and written
	// at its stop would be timed as part of its start.
	st, err := b.startStack(ctx, b.ownStack("stack-cold.log", "SCALE_TO_ZERO_IDLE=200ms", "PROFILE_DIR="))
	if err != nil {
		return err
	}
	defer stopStack(st)
	for _, name := range localstack.StartOrder() {
		var held, afterExec []time.Duration
		for i := range b.cfg.ColdRuns {
			if err := wait.Until(ctx, 30*time.Second, 20*time.Millisecond, func(context.Context) (bool, error) {
				_, err := st.FunctionPID(name)
				return err != nil, nil
			}); err != nil {
				return fmt.Errorf("%s still runs after its idle period: %w", name, err)
			}
			// Ids far above any the pipeline reaches, and apart from coldStarts'.
			t0 := time.Now()
			if err := b.firstWork(ctx, "http://"+st.Activator(name), name, i, int64(950_000_000+i)); err != nil {
				return fmt.Errorf("%s: held request: %w", name, err)
			}
			answered := time.Now()
			exec, err := execOf(st, name, t0)
			if err != nil {
				return err
			}
			held, afterExec = append(held, answered.Sub(t0)), append(afterExec, answered.Sub(exec))
		}
		m, e := ms(median(held)), ms(median(afterExec))
		for i := range b.report.ColdStarts {
			if c := &b.report.ColdStarts[i]; c.Function == name {
				c.HeldMs, c.HeldExecMs = m, e
			}
		}
		fmt.Fprintf(b.out, "  %-9s held request: sent → answered %.1f ms, exec → answered %.1f ms (medians of %d, through the activator)\n",
			name, m, e, len(held))
	}
	return nil
}

// execOf is when the stack started the instance of function that runs now,
// which must have been started after since.
func execOf(st *localstack.Stack, function string, since time.Time) (time.Time, error) {
	s, err := st.State()
	if err != nil {
		return time.Time{}, err
	}
	exec := s.Functions[function].Exec
	if exec.Before(since) {
		return time.Time{}, fmt.Errorf("%s: the stack's state names no instance started for the held request (exec %v)", function, exec)
	}
	return exec, nil
}

// startOnce execs the function, runs probe against it until it succeeds,
// reads its resident memory a moment later, and stops it. It returns how
// long the probe took to succeed, from the exec, and that memory.
func (b *bench) startOnce(ctx context.Context, name string, probe func(context.Context, string) error) (time.Duration, int64, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", b.cfg.FirstPort+10) // above the stack's ports
	ctx, stop := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, b.bin)
	// Stopped as Knative stops a pod: SIGTERM, SIGKILL after a grace period.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = b.functionEnv(name, addr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		stop()
		return 0, 0, fmt.Errorf("start: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() { stop(); <-done }()
	err := wait.Until(ctx, 30*time.Second, time.Millisecond, func(ctx context.Context) (bool, error) {
		select {
		case err := <-done:
			done <- err // for the deferred stop
			return false, fmt.Errorf("exited during start (%v)", err)
		default:
			return probe(ctx, "http://"+addr) == nil, nil
		}
	})
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %s", err, lastLines(logs.String(), 5))
	}
	elapsed := time.Since(t0)
	// Idle memory: what the process holds once the start-up work is done.
	time.Sleep(500 * time.Millisecond)
	p, _ := procStat(cmd.Process.Pid)
	return elapsed, int64(p.ResidentMemory()), nil
}

func (b *bench) probeReady(ctx context.Context, base string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health/readiness", nil)
	return b.send(req)
}

// firstWork sends the function at base its usual first piece of work: an
// order to order, a placed event for order id to a sink (as the dispatcher
// does). It fails unless the answer is a 2xx.
func (b *bench) firstWork(ctx context.Context, base, name string, run int, id int64) error {
	if name == "order" {
		t := orderapi.Client{Base: base}.Target(orderapi.NewRequest(run, ""))
		req, _ := t.Request() // a target made here is well formed
		return b.send(req.WithContext(ctx))
	}
	return b.send(placedEvent(ctx, base+"/", id))
}

// send sends req and fails unless the answer is a 2xx.
func (b *bench) send(req *http.Request) error {
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// lastLines is the last n lines of s, on one line.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], " | ")
}

// median is the middle of xs; zero when there are none.
func median[T cmp.Ordered](xs []T) T {
	if len(xs) == 0 {
		var zero T
		return zero
	}
	return slices.Sorted(slices.Values(xs))[len(xs)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// placedEvent is a binary-mode com.example.order.placed for order id, as the
// dispatcher delivers it to a sink.
func placedEvent(ctx context.Context, url string, id int64) *http.Request {
	body := fmt.Sprintf(`{"id":%d,"customer":{"customerId":1,"name":"Wolff","firstname":"Eberhard","email":"eberhard.wolff@gmail.com"},
"updated":%q,"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
"billingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
"orderLine":[{"count":1,"item":{"itemId":1,"name":"iPod","price":42.0}}],"numberOfLines":1}`,
		id, time.Now().UTC().Format(time.RFC3339))
	req := cloudEvent(ctx, url, events.TypePlaced, "/bench", fmt.Sprintf("bench-%d", id), body)
	req.Header.Set("Ce-Subject", fmt.Sprint(id))
	return req
}

// cloudEvent is a binary-mode CloudEvent with a JSON body, as the
// dispatcher and the PingSource adapter send them.
func cloudEvent(ctx context.Context, url, typ, source, id, body string) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Type", typ)
	req.Header.Set("Ce-Source", source)
	req.Header.Set("Ce-Id", id)
	return req
}

// sizes reports the function binary and the compressed image layer it would
// make: func's host builder puts the one static binary in a layer of its
// own, so a gzip'd tar of that binary is that layer, near enough.
func (b *bench) sizes(ctx context.Context) error {
	st, err := os.Stat(b.bin)
	if err != nil {
		return err
	}
	// A release build as func makes it: stripped, no debug information.
	stripped := filepath.Join(os.TempDir(), fmt.Sprintf("bench-function-%d", os.Getpid()))
	defer os.Remove(stripped)
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", stripped, "./cmd/function")
	build.Dir = b.cfg.Root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("stripped build: %w: %s", err, out)
	}
	bin, err := os.ReadFile(stripped)
	if err != nil {
		return err
	}
	b.report.Sizes = Sizes{BinaryMiB: mib(st.Size()), StrippedMiB: mib(int64(len(bin))), LayerMB: float64(layerSize(bin)) / 1e6}
	fmt.Fprintf(b.out, "  bin/function %.1f MiB, stripped %.1f MiB, compressed layer %.1f MB\n",
		b.report.Sizes.BinaryMiB, b.report.Sizes.StrippedMiB, b.report.Sizes.LayerMB)
	return nil
}

// layerSize is the size of a gzip'd tar holding bin as its one file. It
// writes to memory, where nothing fails but a bad header, and this one is fixed.
func layerSize(bin []byte) int {
	var layer bytes.Buffer
	gz := gzip.NewWriter(&layer)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "function", Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	tw.Close() // the tar's end, then the gzip's: in this order
	gz.Close()
	return layer.Len()
}

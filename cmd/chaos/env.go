package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/events"
)

// env is what the drills act on: the stack, the servers under it, and the
// clients that look at them from outside.
type env struct {
	cfg      config
	gateway  string // http://host:port, no trailing slash
	http     *http.Client
	db       *pgxpool.Pool // admin connection: the checks read every schema
	stack    *stack
	kafka    broker
	postgres script
	sinks    *sinkFault
}

func newEnv(ctx context.Context, cfg config) (*env, error) {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	pg := script{path: filepath.Join(cfg.Root, "infra", "local", "postgres.sh")}
	return &env{
		cfg:     cfg,
		gateway: "http://" + cfg.Gateway,
		http: &http.Client{
			Timeout:   15 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128},
		},
		db:       pool,
		stack:    &stack{cfg: cfg},
		kafka:    broker{dir: cfg.KafkaDir, script: script{path: filepath.Join(cfg.Root, "infra", "local", "kafka.sh")}},
		postgres: pg,
		sinks:    &sinkFault{adminURL: cfg.DatabaseURL},
	}, nil
}

func (e *env) close() { e.db.Close() }

// script is one of infra/local's server scripts; it reads its settings
// (PG_DIR, KAFKA_DIR, ports) from the environment chaos.sh set.
type script struct{ path string }

func (s script) run(ctx context.Context, verb string) error {
	cmd := exec.CommandContext(ctx, s.path, verb)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(s.path), verb, err, out)
	}
	return nil
}

// broker is the Apache Kafka of infra/local/kafka.sh.
type broker struct {
	dir    string
	script script
}

// signal sends sig to the broker and waits until it has exited.
func (b broker) signal(ctx context.Context, sig syscall.Signal) error {
	raw, err := os.ReadFile(filepath.Join(b.dir, "kafka.pid"))
	if err != nil {
		return fmt.Errorf("kafka pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("kafka pid %q: %w", raw, err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal kafka (pid %d): %w", pid, err)
	}
	return waitExit(ctx, pid, 60*time.Second)
}

func (b broker) start(ctx context.Context) error { return b.script.run(ctx, "start") }

// waitExit waits until pid is gone (or a zombie nobody reaps).
func waitExit(ctx context.Context, pid int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("pid %d still running after %v", pid, limit)
}

// sinkFault makes both sinks fail to store: shipping's table is locked by a
// held transaction (its writes hang until the dispatcher's timeout), and
// invoicing's role loses INSERT on its table (its writes fail at once).
type sinkFault struct {
	adminURL string
	conn     *pgx.Conn
	tx       pgx.Tx
}

func (f *sinkFault) fail(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, f.adminURL)
	if err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, `LOCK TABLE shipping.shipment IN ACCESS EXCLUSIVE MODE`)
	}
	if err != nil {
		conn.Close(ctx)
		return fmt.Errorf("lock shipping.shipment: %w", err)
	}
	f.conn, f.tx = conn, tx
	return adminExec(ctx, f.adminURL, `REVOKE INSERT ON invoicing.invoice FROM invoicing`)
}

func (f *sinkFault) heal(ctx context.Context) error {
	var errs []error
	if f.tx != nil {
		errs = append(errs, f.tx.Rollback(ctx), f.conn.Close(ctx))
		f.conn, f.tx = nil, nil
	}
	errs = append(errs, adminExec(ctx, f.adminURL, `GRANT INSERT ON invoicing.invoice TO invoicing`))
	return errors.Join(errs...)
}

func adminExec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// produce writes a plain record (no CloudEvent headers), as a producer
// outside the system would.
func (e *env) produce(ctx context.Context, topic, key string, value []byte) error {
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(e.cfg.Brokers, cfg)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer p.Close()
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)})
	if err != nil {
		return fmt.Errorf("produce to %s: %w", topic, err)
	}
	return nil
}

// deadLetterEnd is the offset after the last dead-lettered record.
func (e *env) deadLetterEnd() (int64, error) {
	c, err := sarama.NewClient(e.cfg.Brokers, sarama.NewConfig())
	if err != nil {
		return 0, fmt.Errorf("kafka client: %w", err)
	}
	defer c.Close()
	return c.GetOffset(events.DeadLetterTopic, 0, sarama.OffsetNewest)
}

// deadLetters reads the dead-lettered values from offset from to to.
func (e *env) deadLetters(from, to int64) ([][]byte, error) {
	if to <= from {
		return nil, nil
	}
	c, err := sarama.NewConsumer(e.cfg.Brokers, sarama.NewConfig())
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(events.DeadLetterTopic, 0, from)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var values [][]byte
	timeout := time.After(10 * time.Second)
	for int64(len(values)) < to-from {
		select {
		case m := <-pc.Messages():
			values = append(values, m.Value)
		case <-timeout:
			return values, fmt.Errorf("read %d of %d dead letters", len(values), to-from)
		}
	}
	return values, nil
}

// stack is bin/stack, run as a child in its own process group so that a
// stop takes its functions with it.
type stack struct {
	cfg  config
	cmd  *exec.Cmd
	done chan struct{}
}

func (s *stack) start(ctx context.Context) error {
	log, err := os.OpenFile(s.cfg.StackLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.cfg.StackBin)
	cmd.Dir = s.cfg.Root
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start stack: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(s.done) }()
	if s.cfg.StackPID != "" {
		os.WriteFile(s.cfg.StackPID, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	}
	return s.ready(ctx, "http://"+s.cfg.Gateway)
}

// ready waits until the gateway answers for all three functions.
func (s *stack) ready(ctx context.Context, gateway string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for _, path := range []string{"/order/api/items", "/shipping/api/shipments", "/invoicing/api/invoices"} {
		for {
			if resp, err := http.Get(gateway + path); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-s.done:
				return fmt.Errorf("stack exited while starting (see %s)", s.cfg.StackLog)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("stack not ready after 2m: %s (see %s)", path, s.cfg.StackLog)
			}
		}
	}
	return nil
}

// signal sends sig to the stack's process group.
func (s *stack) signal(sig syscall.Signal) error { return syscall.Kill(-s.cmd.Process.Pid, sig) }

// stop asks the stack to stop (it stops its functions), then insists.
func (s *stack) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.signal(syscall.SIGKILL)
		<-s.done
	}
}

// killFunction sends SIGKILL to the running instance of a function (the
// stack's child whose FUNCTION names it), as a crashed pod would die; the
// stack's supervisor is expected to start it again.
func (s *stack) killFunction(name string) error {
	pid, err := childNamed(s.cmd.Process.Pid, name)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s (pid %d): %w", name, pid, err)
	}
	return nil
}

// kill9 kills the stack itself with SIGKILL, not its process group: its
// functions must die with it by themselves (parent-death signal).
func (s *stack) kill9(ctx context.Context) error {
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill stack: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// childNamed finds the child of parent whose environment sets FUNCTION=name.
func childNamed(parent int, name string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if slices.Contains(strings.Split(string(environ), "\x00"), "FUNCTION="+name) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no running %s under the stack (pid %d)", name, parent)
}

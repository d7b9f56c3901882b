package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/procfs"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/tools/internal/localstack"
	"github.com/mskafka/knative-functions/tools/internal/orderapi"
	"github.com/mskafka/knative-functions/tools/internal/wait"
)

// env is what the drills act on: the stack, the servers under it, and the
// clients that look at them from outside.
type env struct {
	cfg      config
	layout   localstack.Layout
	stack    *localstack.Stack
	stackLog *os.File
	orders   orderapi.Client // placements and cancellations, each retried until it has a final answer
	http     *http.Client    // the checks' reads
	db       *pgxpool.Pool   // admin connection: the checks read every schema
	// sinkLock holds shipping's table locked while the sinks fail.
	sinkLock pgx.Tx
}

func newEnv(ctx context.Context, cfg config) (*env, error) {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	log, err := os.OpenFile(cfg.StackLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		pool.Close()
		return nil, err
	}
	layout := localstack.Layout{Gateway: cfg.Gateway, FunctionPort: cfg.FirstPort, Metrics: cfg.MetricsAddr}
	base := &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128, ResponseHeaderTimeout: 15 * time.Second}
	return &env{
		cfg: cfg, layout: layout, stackLog: log,
		// Each placement and cancellation retried for 90 s before it gives up.
		orders: orderapi.Client{Base: layout.GatewayURL() + "/order", HTTP: &http.Client{Transport: orderapi.Retrying(base, 90*time.Second)}},
		http:   &http.Client{Timeout: 15 * time.Second, Transport: base},
		db:     pool,
	}, nil
}

func (e *env) close() { e.db.Close(); e.stackLog.Close() }

// startStack runs bin/stack (again) and writes its PID where the script's
// trap finds it.
func (e *env) startStack(ctx context.Context) error {
	st, err := localstack.Start(ctx, localstack.Options{Bin: e.cfg.StackBin, Dir: e.cfg.Root, Env: os.Environ(),
		Layout: e.layout, Out: e.stackLog})
	if err != nil {
		return fmt.Errorf("%w (see %s)", err, e.cfg.StackLog)
	}
	e.stack = st
	if e.cfg.StackPID != "" {
		os.WriteFile(e.cfg.StackPID, []byte(strconv.Itoa(st.PID())), 0o644)
	}
	return nil
}

// killFunction sends SIGKILL to the running instance of a function, as a
// crashed pod would die; the stack's supervisor is expected to start it again.
func (e *env) killFunction(name string) error {
	pid, err := e.stack.FunctionPID(name)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s (pid %d): %w", name, pid, err)
	}
	return nil
}

// script runs infra/local/<name>.sh verb; it reads its settings (PG_DIR,
// KAFKA_DIR, ports) from the environment chaos.sh set.
func (e *env) script(ctx context.Context, name, verb string) error {
	out, err := exec.CommandContext(ctx, filepath.Join(e.cfg.Root, "infra", "local", name+".sh"), verb).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s.sh %s: %w\n%s", name, verb, err, out)
	}
	return nil
}

// signalKafka sends sig to the Apache Kafka of infra/local/kafka.sh and
// waits until it has exited.
func (e *env) signalKafka(ctx context.Context, sig syscall.Signal) error {
	raw, err := os.ReadFile(filepath.Join(e.cfg.KafkaDir, "kafka.pid"))
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
	// Gone, or a zombie nobody reaps.
	return wait.Until(ctx, time.Minute, 100*time.Millisecond, func(context.Context) (bool, error) {
		p, err := procfs.NewProc(pid)
		if err != nil {
			return true, nil
		}
		st, err := p.Stat()
		return err != nil || st.State == "Z", nil
	})
}

// failSinks makes both sinks fail to store: shipping's table is locked by
// a held transaction (its writes hang until the dispatcher's timeout), and
// invoicing's role loses INSERT on its table (its writes fail at once).
func (e *env) failSinks(ctx context.Context) error {
	tx, err := e.db.Begin(ctx)
	if err == nil {
		if _, err = tx.Exec(ctx, `LOCK TABLE shipping.shipment IN ACCESS EXCLUSIVE MODE`); err != nil {
			tx.Rollback(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("lock shipping.shipment: %w", err)
	}
	e.sinkLock = tx
	_, err = e.db.Exec(ctx, `REVOKE INSERT ON invoicing.invoice FROM invoicing`)
	return err
}

func (e *env) healSinks(ctx context.Context) error {
	var errs []error
	if e.sinkLock != nil {
		errs = append(errs, e.sinkLock.Rollback(ctx))
		e.sinkLock = nil
	}
	_, err := e.db.Exec(ctx, `GRANT INSERT ON invoicing.invoice TO invoicing`)
	return errors.Join(append(errs, err)...)
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

// deadLetters reads the values dead-lettered from offset from on.
func (e *env) deadLetters(from int64) ([][]byte, error) {
	to, err := e.deadLetterEnd()
	if err != nil || to <= from {
		return nil, err
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

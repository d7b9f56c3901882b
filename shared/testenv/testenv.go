// Package testenv is the one place tests find the real servers and tools
// they need — Postgres, Kafka, Jaeger, Chromium — and the in-memory
// telemetry recorders. It owns the rule for a missing server: the test
// fails when REQUIRE_SERVERS=1 (make test, CI), else it is skipped.
package testenv

import (
	"os"
	"testing"
	"time"
)

// The variables that point tests at the servers make test starts.
const (
	EnvRequire  = "REQUIRE_SERVERS"
	EnvDatabase = "DATABASE_URL"
	EnvBrokers  = "KAFKA_BROKERS"
	EnvJaeger   = "JAEGER_BIN"
)

// Missing ends a test that lacks a server or tool: it fails under
// REQUIRE_SERVERS=1, so CI never skips silently, and is skipped otherwise.
// how tells the reader how to provide it.
func Missing(tb testing.TB, what, how string) {
	tb.Helper()
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatalf("%s is missing and %s=1 forbids skipping: %s", what, EnvRequire, how)
	}
	tb.Skipf("needs %s: %s", what, how)
}

// Eventually polls cond until it holds, or fails the test after timeout,
// saying what it waited for.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestVerdict(t *testing.T) {
	whole := row{Drill: "d", Accepted: 10, Shipped: 10, Invoiced: 10, Converged: true}
	tests := []struct {
		name string
		edit func(*row)
		want string
	}{
		{"whole", func(*row) {}, "pass"},
		{"lost", func(r *row) { r.Lost = 1 }, "FAIL: lost/doubled/phantom"},
		{"doubled", func(r *row) { r.Doubled = 1 }, "FAIL: lost/doubled/phantom"},
		{"phantom", func(r *row) { r.Phantom = 1 }, "FAIL: lost/doubled/phantom"},
		{"a request never answered 201", func(r *row) { r.Unanswered = []string{"k-1: HTTP 422"} }, "FAIL: 1 requests without 201"},
		{"not converged", func(r *row) { r.Converged = false }, "FAIL: did not converge"},
		{"outbox left", func(r *row) { r.Backlog = 3 }, "FAIL: outbox backlog 3"},
		{"poison dead-lettered by both sources", func(r *row) { r.PoisonExpected, r.PoisonSeen = true, 2 }, "pass"},
		{"poison dead-lettered by one source", func(r *row) { r.PoisonExpected, r.PoisonSeen = true, 1 }, "FAIL: poison dead-lettered 1 times, want 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := whole
			tt.edit(&r)
			if diff := cmp.Diff(tt.want, r.Verdict()); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailuresNameTheFailedDrills(t *testing.T) {
	rows := []row{{Drill: "a", Converged: true}, {Drill: "b", Converged: true, Phantom: 1}, {Drill: "c"}}
	if diff := cmp.Diff([]string{"b", "c"}, failures(rows)); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
}

func TestSelectDrills(t *testing.T) {
	all := allDrills()
	got, err := selectDrills(all, []string{"poison-not-an-order", " kafka-kill9"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.name)
	}
	if diff := cmp.Diff([]string{"poison-not-an-order", "kafka-kill9"}, names); diff != "" {
		t.Errorf("selected (-want +got):\n%s", diff)
	}
	if _, err := selectDrills(all, []string{"no-such-drill"}); err == nil {
		t.Error("an unknown drill was accepted")
	}
}

// TestDrillTable keeps the table sound: every drill can inject, a fault
// that holds is healed, and the waits cover the KafkaSource's backoff.
func TestDrillTable(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range allDrills() {
		if seen[d.name] {
			t.Errorf("drill %s twice", d.name)
		}
		seen[d.name] = true
		if d.inject == nil || d.hold <= 0 || d.converge <= 0 {
			t.Errorf("drill %s: needs inject, hold and converge", d.name)
		}
		if d.heal == nil && d.poison == nil {
			t.Errorf("drill %s: a fault other than a poison record needs a heal", d.name)
		}
	}
}

// The table of three drills, one failed with more keys than are listed,
// is as in testdata/chaos.md; the console shows the same rows.
func TestTableGolden(t *testing.T) {
	var details []string
	for i := range 25 {
		details = append(details, "lost k-"+string(rune('a'+i)))
	}
	rows := []row{
		{Drill: "a", Accepted: 10, Shipped: 10, Invoiced: 10, Converged: true, Seconds: 1.25},
		{Drill: "b", Accepted: 10, Shipped: 9, Invoiced: 8, Lost: 2, Seconds: 180.4,
			Details: append(details[:maxDetails], "… and 5 more"), Notes: []string{"3 orders were retried"}},
		{Drill: "c", Accepted: 5, Shipped: 5, Invoiced: 5, DeadLettered: 2, Converged: true, Seconds: 3, Notes: []string{"n1", "n2"}, PoisonExpected: true, PoisonSeen: 2},
	}
	cfg := config{Rate: 60, Warmup: 5 * time.Second, Tail: 5 * time.Second, Report: filepath.Join(t.TempDir(), "chaos.md")}
	var printed strings.Builder
	if err := writeTable(&printed, cfg, rows); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(cfg.Report)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/chaos.md")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if printed.String() != "\n"+string(got) {
		t.Errorf("printed %q, wrote %q", printed.String(), got)
	}
	if line := rows[1].line(); !strings.Contains(string(got), "\n"+line+"\n") || !strings.HasSuffix(line, "| > 180 | FAIL: lost/doubled/phantom, did not converge |") {
		t.Errorf("console row %q is not the table's", line)
	}
}

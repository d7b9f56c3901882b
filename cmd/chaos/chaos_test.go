package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVerdict(t *testing.T) {
	whole := row{drill: "d", accepted: 10, shipped: 10, invoiced: 10, converged: true}
	tests := []struct {
		name string
		edit func(*row)
		want string
	}{
		{"whole", func(*row) {}, "pass"},
		{"lost", func(r *row) { r.lost = 1 }, "FAIL: lost/doubled/phantom"},
		{"doubled", func(r *row) { r.doubled = 1 }, "FAIL: lost/doubled/phantom"},
		{"phantom", func(r *row) { r.phantom = 1 }, "FAIL: lost/doubled/phantom"},
		{"a request never answered 201", func(r *row) { r.unanswered = []string{"k-1: HTTP 422"} }, "FAIL: 1 requests without 201"},
		{"not converged", func(r *row) { r.converged = false }, "FAIL: did not converge"},
		{"outbox left", func(r *row) { r.backlog = 3 }, "FAIL: outbox backlog 3"},
		{"poison dead-lettered by both sources", func(r *row) { r.poisonExpected, r.poisonSeen = true, 2 }, "pass"},
		{"poison dead-lettered by one source", func(r *row) { r.poisonExpected, r.poisonSeen = true, 1 }, "FAIL: poison dead-lettered 1 times, want 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := whole
			tt.edit(&r)
			if diff := cmp.Diff(tt.want, r.verdict()); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailuresNameTheFailedDrills(t *testing.T) {
	rows := []row{{drill: "a", converged: true}, {drill: "b", converged: true, phantom: 1}, {drill: "c"}}
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

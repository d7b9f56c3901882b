package main

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/money"
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

// TestNewRequest checks that a request names its key in both addresses
// (that is how the checks find the orders it made) and knows its total.
func TestNewRequest(t *testing.T) {
	tests := []struct {
		n     int
		total money.Cents
	}{
		{0, 4200},  // 1 × iPod
		{1, 4200},  // 2 × iPod touch
		{2, 300},   // 3 × iPod nano
		{3, 10000}, // 1 × Apple TV
		{5, 6300},  // 3 × iPod touch
	}
	for _, tt := range tests {
		r := newRequest("chaos-1-2", tt.n)
		var body struct {
			Shipping struct{ Street string } `json:"shippingAddress"`
			Billing  struct{ Street string } `json:"billingAddress"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if r.key != "chaos-1-2-"+strconv.Itoa(tt.n) || body.Shipping.Street != r.key || body.Billing.Street != r.key {
			t.Errorf("request %d: key %q, streets %q and %q", tt.n, r.key, body.Shipping.Street, body.Billing.Street)
		}
		if r.total != tt.total {
			t.Errorf("request %d: total %v, want %v", tt.n, r.total, tt.total)
		}
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

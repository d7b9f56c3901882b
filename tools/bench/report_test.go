package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "write the golden files anew")

// synthetic is a report with every part, figures made up.
func synthetic() *Report {
	st := func(rate float64, half bool, p99 float64) Step {
		return Step{Offered: rate, Half: half, Sent: 100, Accepted: 99, AcceptedPerSec: rate - 1, Errors: 1, ErrorKinds: map[string]int{"x": 1},
			Lost: 0, DrainSec: 1.25, API: Percentiles{1, 2, 3, 4, 5}, E2E: Percentiles{10, 20, p99, 200, 99}, Relayed: Percentiles{1, 2, 3, 4, 5},
			RSSMiB: map[string]float64{"order": 30.5, "stack": 40},
			Cost: Cost{CommitsPerOrder: 2.5, StatementsPerOrder: -1, RoundTripsPerOrder: 3.3, KafkaReqsPerOrder: 1.1,
				CPUSecPer1000: map[string]float64{"order": 0.6, "shipping": 0.4, "invoicing": 0.45, "stack": 0.8, "postgres": 1.2, "kafka": 0.4, "bench (load)": 0.3}}}
	}
	ok := func(s Step) Step { s.Errors = 0; return s }
	r := &Report{Machine: Machine{CPU: "EPYC", CPUs: 2, MemoryGiB: 24, Kernel: "6.1"}, Started: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), Seconds: 123,
		Bound:      Bound{OrdersPerSec: 1485, Clients: 16, CodeOrdersPerSec: 634, CodeCommitsPerOrder: 4, PlainCommitPerSec: 15990},
		ColdStarts: []ColdStart{{"order", 20, 14, 18, 24.3, 21.1, 22.3}, {"shipping", 20, 14.2, 19, 25.4, 22.2, 22.4}},
		Steps:      []Step{ok(st(150, false, 25)), ok(st(300, false, 57)), ok(st(450, false, 99)), st(520, false, 237), ok(st(225, true, 50))},
		Sizes:      Sizes{40, 27.8, 10.1},
		Compare:    &Compare{Baseline: "686e9a0", Rate: 450, Rounds: 2, This: []Step{ok(st(450, false, 90)), ok(st(450, false, 95))}, Base: []Step{st(450, false, 80), st(450, false, 85)}},
		Growth: &Growth{Rate: 300, Retention: 5 * time.Minute, Orders: 300300, Early: ok(st(300, false, 84)), Late: ok(st(300, false, 85)),
			Tables:  []TableSize{{"orders.orders", 300300, 120.5}, {"orders.outbox", 9000, 3.2}},
			Rounds:  map[string]Percentiles{"order": {50, 60, 70, 80, 20}, "shipping": {5, 6, 7, 8, 20}},
			Deletes: []Deletes{{"orders", 40, 9000, 120.5, 12.25}, {"shipping", 20, 8000, 100, 10}}},
		Problems: []string{"a: b", "c: d"},
	}
	r.Finish()
	r.Seconds = 123
	return r
}

// The Markdown and the plot of a report with every part are as in
// testdata/ (go test -update writes them anew).
func TestReportGolden(t *testing.T) {
	r := synthetic()
	var md bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"report.md": md.Bytes(), "latency.svg": r.SVG()} {
		path := filepath.Join("testdata", name)
		if *update {
			os.WriteFile(path, got, 0o644)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report is everything one run measured; it is written as JSON and Markdown.
type Report struct {
	Machine    Machine
	Started    time.Time
	Seconds    float64 // the whole run
	Bound      Bound
	ColdStarts []ColdStart
	Steps      []Step
	Sizes      Sizes
	Compare    *Compare `json:",omitempty"`
	Growth     *Growth  `json:",omitempty"`
	// Headline: the sustained rate and its ratio to the bound.
	SustainedPerSec float64
	Ratio           float64
	HalfE2EP99      float64 // ms, at half the sustained rate
	Problems        []string
}

// Machine is where the figures come from.
type Machine struct {
	CPU       string
	CPUs      int
	MemoryGiB float64
	Kernel    string
}

// Bound is the database alone running an order's SQL: the minimal SQL
// (the bound), and the code's own statements beside it.
type Bound struct {
	OrdersPerSec        float64 // minimal.sql
	Clients             int
	CodeOrdersPerSec    float64 // order.sql
	CodeCommitsPerOrder float64
	PlainCommitPerSec   float64
}

// ColdStart is one function's start from nothing, medians.
type ColdStart struct {
	Function     string
	Runs         int
	ReadyMs      float64 // exec → readiness 200
	FirstEventMs float64 // exec → first order or event stored
	HeldMs       float64 // a request held by the activator: sent → answered
	IdleRSSMiB   float64
}

// Step is one offered rate.
type Step struct {
	Offered        float64 // orders/s
	Half           bool    // the extra step at half the sustained rate
	Sent, Accepted int
	AcceptedPerSec float64
	Errors         int
	ErrorKinds     map[string]int `json:",omitempty"`
	Lost           int            // accepted, but not shipped and invoiced
	DrainSec       float64        // from the last request to everything stored
	API            Percentiles    // request → 201, ms
	E2E            Percentiles    // order commit → later of shipment and invoice commits, ms
	Relayed        Percentiles    // order commit → the relay's commit of the sent mark (Kafka has it), ms
	RSSMiB         map[string]float64
	Cost           Cost
}

// Sizes of what would be shipped.
type Sizes struct {
	BinaryMiB, StrippedMiB float64
	LayerMB                float64 // gzip'd tar of the stripped binary
}

func (s Step) ok() bool {
	return s.Lost == 0 && s.Errors == 0 && s.E2E.N > 0 && s.E2E.P99 < ms(sustainedP99)
}

// saturated: the pipeline no longer keeps up, so higher steps say nothing new.
func (s Step) saturated() bool {
	return s.Errors > 0 || s.Lost > 0 || s.E2E.P99 > 1000 || s.AcceptedPerSec < 0.9*s.Offered
}

func (r *Report) sustained() *Step { return r.highest(Step.ok) }

// costStep is the step whose per-process cost the report shows: the
// sustained one, or else the highest that lost and failed nothing.
func (r *Report) costStep() *Step {
	if s := r.sustained(); s != nil {
		return s
	}
	return r.highest(func(s Step) bool { return s.Errors == 0 && s.Lost == 0 })
}

// highest is the step at the highest offered rate, leaving out the half
// step, that ok accepts.
func (r *Report) highest(ok func(Step) bool) *Step {
	var best *Step
	for i := range r.Steps {
		s := &r.Steps[i]
		if !s.Half && ok(*s) && (best == nil || s.Offered > best.Offered) {
			best = s
		}
	}
	return best
}

// Finish computes the headline figures.
func (r *Report) Finish() {
	r.Seconds = time.Since(r.Started).Seconds()
	if s := r.sustained(); s != nil {
		r.SustainedPerSec = s.Offered
		if r.Bound.OrdersPerSec > 0 {
			r.Ratio = s.Offered / r.Bound.OrdersPerSec
		}
	}
	for _, s := range r.Steps {
		if s.Half {
			r.HalfE2EP99 = s.E2E.P99
		}
	}
}

// Write puts the report under dir: a dated JSON, and latest.json,
// latest.md and latency.svg.
func (r *Report) Write(dir string) ([]string, error) {
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	var md bytes.Buffer
	r.Markdown(&md)
	files := map[string][]byte{
		"bench-" + r.Started.Format("20060102-150405") + ".json": j,
		"latest.json": j,
		"latest.md":   md.Bytes(),
		"latency.svg": r.SVG(),
	}
	var paths []string
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths, nil
}

// Markdown writes the tables that the README quotes.
func (r *Report) Markdown(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "### make bench, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %d × %s, %.0f GiB, Linux %s. Run took %.0f s.\n\n", m.CPUs, m.CPU, m.MemoryGiB, m.Kernel, r.Seconds)
	if r.Bound.OrdersPerSec > 0 || len(r.Steps) > 0 {
		r.headline(w)
	}
	r.Compare.Markdown(w)
	if len(r.ColdStarts) > 0 || r.Sizes.BinaryMiB > 0 {
		r.coldStarts(w)
	}
	r.Growth.Markdown(w)
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "\nNot measured:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "- %s\n", p)
		}
	}
}

// headline writes the bound, the sustained rate, the steps and the cost per
// process.
func (r *Report) headline(w io.Writer) {
	fmt.Fprintf(w, "| headline | value |\n|---|---|\n")
	fmt.Fprintf(w, "| bound: pgbench, the minimal SQL of an order (%d clients, 4 commits/order) | %.0f orders/s |\n", r.Bound.Clients, r.Bound.OrdersPerSec)
	fmt.Fprintf(w, "| pgbench, the code's own statements (%d clients) | %.0f orders/s (%.2f commits/order) |\n", r.Bound.Clients, r.Bound.CodeOrdersPerSec, r.Bound.CodeCommitsPerOrder)
	fmt.Fprintf(w, "| plain one-INSERT commit rate | %.0f/s |\n", r.Bound.PlainCommitPerSec)
	fmt.Fprintf(w, "| sustained (no loss, no errors, e2e p99 < %v) | %.0f orders/s |\n", sustainedP99, r.SustainedPerSec)
	fmt.Fprintf(w, "| **sustained ÷ bound** | **%.2f** |\n", r.Ratio)
	fmt.Fprintf(w, "| e2e p99 at half the sustained rate | %.1f ms |\n\n", r.HalfE2EP99)

	fmt.Fprintf(w, "| offered/s | accepted/s | API p50 / p99 ms | e2e p50 / p95 / p99 / max ms | errors | lost | drain s | commits/order | statements/order | Postgres round trips/order | Kafka requests/order |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Steps {
		tag := ""
		if s.Half {
			tag = " (½ sustained)"
		}
		fmt.Fprintf(w, "| %.0f%s | %.0f | %.1f / %.1f | %.1f / %.1f / %.1f / %.1f | %d | %d | %.1f | %.2f | %s | %s | %s |\n",
			s.Offered, tag, s.AcceptedPerSec, s.API.P50, s.API.P99, s.E2E.P50, s.E2E.P95, s.E2E.P99, s.E2E.Max,
			s.Errors, s.Lost, s.DrainSec, s.Cost.CommitsPerOrder, statements(s.Cost.StatementsPerOrder),
			statements(s.Cost.RoundTripsPerOrder), statements(s.Cost.KafkaReqsPerOrder))
	}
	if s := r.costStep(); s != nil {
		fmt.Fprintf(w, "\nAt %.0f/s offered (the sustained rate, or else the highest step without errors or loss), per process:\n\n| process | CPU s / 1000 orders | peak RSS MiB |\n|---|---|---|\n", s.Offered)
		total := 0.0
		for _, name := range []string{"order", "shipping", "invoicing", "stack", "postgres", "kafka", "bench (load)"} {
			rss := "–"
			if v, ok := s.RSSMiB[name]; ok {
				rss = fmt.Sprintf("%.1f", v)
			}
			total += s.Cost.CPUSecPer1000[name]
			fmt.Fprintf(w, "| %s | %.2f | %s |\n", name, s.Cost.CPUSecPer1000[name], rss)
		}
		fmt.Fprintf(w, "| all | %.2f | |\n", total)
		fmt.Fprintf(w, "\n(`stack` is the local platform: gateway, activators and the KafkaSource dispatchers. HTTP hops per order: client → gateway → order, dispatcher → shipping, dispatcher → invoicing.)\n")
	}
}

// coldStarts writes the cold starts and the sizes.
func (r *Report) coldStarts(w io.Writer) {
	runs := 0
	for _, c := range r.ColdStarts {
		runs = c.Runs
	}
	fmt.Fprintf(w, "\n| function | exec → ready ms | exec → first stored ms | held request → answered ms | idle RSS MiB |\n|---|---|---|---|---|\n")
	for _, c := range r.ColdStarts {
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f |\n", c.Function, c.ReadyMs, c.FirstEventMs, c.HeldMs, c.IdleRSSMiB)
	}
	fmt.Fprintf(w, "\nMedians of %d starts each; the held request is one sent to a function scaled to zero through the stack's activator, timed by its sender (so the activator's hold, exec, readiness and the work itself). bin/function %.1f MiB (stripped %.1f MiB); compressed image layer %.1f MB.\n",
		runs, r.Sizes.BinaryMiB, r.Sizes.StrippedMiB, r.Sizes.LayerMB)
}

func statements(n float64) string {
	if n < 0 {
		return "not counted"
	}
	return fmt.Sprintf("%.1f", n)
}

// SVG plots the latencies against the offered rate: end-to-end p50 and p99,
// and the order API's p99, with the 100 ms line that sustained means.
func (r *Report) SVG() []byte {
	const w, h, left, bottom, top, right = 720.0, 420.0, 60.0, 40.0, 30.0, 20.0
	var steps []Step
	for _, s := range r.Steps {
		if !s.Half {
			steps = append(steps, s)
		}
	}
	maxX, maxY := 1.0, 200.0
	for _, s := range steps {
		maxX = max(maxX, s.Offered)
		maxY = max(maxY, s.E2E.P99, s.API.P99)
	}
	maxY = min(maxY*1.1, 2000) // a collapsed step would flatten the rest
	x := func(v float64) float64 { return left + v/maxX*(w-left-right) }
	y := func(v float64) float64 { return h - bottom - min(v, maxY)/maxY*(h-bottom-top) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="14">Latency against offered rate (bound %.0f orders/s)</text>`+"\n", left, r.Bound.OrdersPerSec)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", left, top, left, h-bottom)
	for i := 0; i <= 5; i++ {
		vx, vy := maxX*float64(i)/5, maxY*float64(i)/5
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">%.0f</text>`+"\n", x(vx), h-bottom+16, vx)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">%.0f</text>`+"\n", left-6, y(vy)+4, vy)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">offered orders/s</text>`+"\n", (left+w-right)/2, h-6)
	fmt.Fprintf(&b, `<text x="14" y="%.0f" transform="rotate(-90 14 %.0f)" text-anchor="middle">ms</text>`+"\n", (top+h-bottom)/2, (top+h-bottom)/2)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="gray" stroke-dasharray="4 4"/>`+"\n", left, y(100), w-right, y(100))
	series := []struct {
		name, color string
		v           func(Step) float64
	}{
		{"end-to-end p50", "#2a7", func(s Step) float64 { return s.E2E.P50 }},
		{"end-to-end p99", "#c33", func(s Step) float64 { return s.E2E.P99 }},
		{"order API p99", "#36c", func(s Step) float64 { return s.API.P99 }},
	}
	for i, sr := range series {
		var pts []string
		for _, s := range steps {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.Offered), y(sr.v(s))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", sr.color, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="%s">%s</text>`+"\n", left+10, top+16+float64(i)*16, sr.color, sr.name)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

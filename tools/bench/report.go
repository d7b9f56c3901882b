package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"text/template"
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
	HeldExecMs   float64 // the same request: the instance's exec → answered
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

// CostStep is the step whose per-process cost the report shows: the
// sustained one, or else the highest that lost and failed nothing.
func (r *Report) CostStep() *Step {
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
	if err := r.Markdown(&md); err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"bench-" + r.Started.Format("20060102-150405") + ".json": j,
		"latest.json": j,
		"latest.md":   md.Bytes(),
		"latency.svg": r.SVG(),
	}
	var paths []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// The report's Markdown and plot are templates, so that their text reads
// as it will be printed.
var (
	//go:embed report.md.tmpl latency.svg.tmpl
	templateFiles embed.FS
	templates     = template.Must(template.New("").Funcs(template.FuncMap{
		"processes":    func() []string { return append(compareProcesses, "bench (load)") },
		"compared":     func() []string { return compareProcesses },
		"sustainedP99": func() time.Duration { return sustainedP99 },
		"growthPing":   func() time.Duration { return growthPing },
		"mean":         meanStep,
		"counted": func(n float64) string {
			if n < 0 {
				return "not counted"
			}
			return fmt.Sprintf("%.1f", n)
		},
		"ratio": func(this, base float64) string {
			if base <= 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", this/base)
		},
	}).ParseFS(templateFiles, "*.tmpl"))
)

// Markdown writes the tables that the README quotes.
func (r *Report) Markdown(w io.Writer) error {
	return templates.ExecuteTemplate(w, "report.md.tmpl", r)
}

// CPU is the CPU seconds per 1000 orders of the processes together.
func (c Cost) CPU(processes []string) float64 {
	sum := 0.0
	for _, p := range processes {
		sum += c.CPUSecPer1000[p]
	}
	return sum
}

// meanStep is the mean of the steps' CPU, commits and e2e p99.
func meanStep(steps []Step) Step {
	m := Step{Cost: Cost{CPUSecPer1000: map[string]float64{}}}
	n := float64(len(steps))
	for _, s := range steps {
		for p, v := range s.Cost.CPUSecPer1000 {
			m.Cost.CPUSecPer1000[p] += v / n
		}
		m.Cost.CommitsPerOrder += s.Cost.CommitsPerOrder / n
		m.E2E.P99 += s.E2E.P99 / n
	}
	return m
}

// SVG plots the latencies against the offered rate: end-to-end p50 and p99,
// and the order API's p99, with the 100 ms line that sustained means.
func (r *Report) SVG() []byte {
	p := plot{Bound: r.Bound.OrdersPerSec, maxX: 1, maxY: 200}
	for _, s := range r.Steps {
		if !s.Half {
			p.Steps = append(p.Steps, s)
			p.maxX = max(p.maxX, s.Offered)
			p.maxY = max(p.maxY, s.E2E.P99, s.API.P99)
		}
	}
	p.maxY = min(p.maxY*1.1, 2000) // a collapsed step would flatten the rest
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, "latency.svg.tmpl", p); err != nil {
		panic(err) // the template and its data are fixed: a mistake here
	}
	return b.Bytes()
}

// plot is what latency.svg.tmpl draws, on axes that meet at (60, 380) and
// run to 700 and 30.
type plot struct {
	Bound      float64
	Steps      []Step
	maxX, maxY float64
}

func (p plot) X(v float64) float64 { return 60 + v/p.maxX*640 }

func (p plot) Y(v float64) float64 { return 380 - min(v, p.maxY)/p.maxY*350 }

// Ticks are the values marked on the axes: six each, from zero.
func (p plot) Ticks() []struct{ X, Y float64 } {
	var t []struct{ X, Y float64 }
	for i := range 6 {
		t = append(t, struct{ X, Y float64 }{p.maxX * float64(i) / 5, p.maxY * float64(i) / 5})
	}
	return t
}

package main

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// row is one drill's line in the table, and what explains it.
type row struct {
	Drill                             string
	Accepted, Shipped, Invoiced, Lost int
	Doubled, Phantom, DeadLettered    int
	Converged                         bool
	Seconds                           float64 // from the heal (or the inject) to whole, or to giving up
	Backlog                           int64   // unsent outbox rows at the end
	PoisonExpected                    bool
	PoisonSeen                        int // dead letters that are the poison record
	Unanswered                        []string
	Details                           []string // what failed, with keys
	Notes                             []string // what is worth knowing though it passed
}

// Verdict says why the row fails, or "pass".
func (r row) Verdict() string {
	var why []string
	for _, c := range []struct {
		failed bool
		why    string
	}{
		{r.Lost > 0 || r.Doubled > 0 || r.Phantom > 0, "lost/doubled/phantom"},
		{len(r.Unanswered) > 0, fmt.Sprintf("%d requests without 201", len(r.Unanswered))},
		{!r.Converged, "did not converge"},
		{r.Backlog != 0, fmt.Sprintf("outbox backlog %d", r.Backlog)},
		{r.PoisonExpected && r.PoisonSeen < 2, fmt.Sprintf("poison dead-lettered %d times, want 2", r.PoisonSeen)},
	} {
		if c.failed {
			why = append(why, c.why)
		}
	}
	if len(why) == 0 {
		return "pass"
	}
	return "FAIL: " + strings.Join(why, ", ")
}

// failures names the failed drills.
func failures(rows []row) []string {
	var out []string
	for _, r := range rows {
		if r.Verdict() != "pass" {
			out = append(out, r.Drill)
		}
	}
	return out
}

// maxDetails caps the keys listed per drill.
const maxDetails = 20

// The table, in Markdown, and what failed with keys.
var (
	//go:embed chaos.md.tmpl
	tableText string
	table     = template.Must(template.New("").Parse(tableText))
)

// line is the drill's row of the table, as the console shows it.
func (r row) line() string {
	var b strings.Builder
	table.ExecuteTemplate(&b, "row", r) // the template is fixed, and a row has all it needs
	return b.String()
}

// writeTable prints the table of the drills and writes it to cfg.Report.
func writeTable(out io.Writer, cfg config, rows []row) error {
	var b strings.Builder
	if err := table.Execute(&b, struct {
		Cfg  config
		Rows []row
	}{cfg, rows}); err != nil {
		return err
	}
	fmt.Fprint(out, "\n"+b.String())
	if err := os.MkdirAll(filepath.Dir(cfg.Report), 0o755); err != nil {
		return err
	}
	return os.WriteFile(cfg.Report, []byte(b.String()), 0o644)
}

package main

import (
	"fmt"
	"strings"
)

// row is one drill's line in the table, and what explains it.
type row struct {
	drill                             string
	accepted, shipped, invoiced, lost int
	doubled, phantom, deadLettered    int
	converged                         bool
	seconds                           float64 // from the heal (or the inject) to whole, or to giving up
	backlog                           int64   // unsent outbox rows at the end
	poisonExpected                    bool
	poisonSeen                        int // dead letters that are the poison record
	unanswered                        []string
	details                           []string // what failed, with keys
	notes                             []string // what is worth knowing though it passed
}

// verdict says why the row fails, or "pass".
func (r row) verdict() string {
	var why []string
	if r.lost > 0 || r.doubled > 0 || r.phantom > 0 {
		why = append(why, "lost/doubled/phantom")
	}
	if len(r.unanswered) > 0 {
		why = append(why, fmt.Sprintf("%d requests without 201", len(r.unanswered)))
	}
	if !r.converged {
		why = append(why, "did not converge")
	}
	if r.backlog != 0 {
		why = append(why, fmt.Sprintf("outbox backlog %d", r.backlog))
	}
	if r.poisonExpected && r.poisonSeen < 2 {
		why = append(why, fmt.Sprintf("poison dead-lettered %d times, want 2", r.poisonSeen))
	}
	if len(why) == 0 {
		return "pass"
	}
	return "FAIL: " + strings.Join(why, ", ")
}

func (r row) converge() string {
	if r.converged {
		return fmt.Sprintf("%.1f", r.seconds)
	}
	return fmt.Sprintf("> %.0f", r.seconds)
}

// tableRow is the drill's row of the table, shown on the console too.
func (r row) tableRow() string {
	return fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %d | %d | %s | %s |",
		r.drill, r.accepted, r.shipped, r.invoiced, r.lost, r.doubled, r.phantom, r.deadLettered, r.converge(), r.verdict())
}

// failures names the failed drills.
func failures(rows []row) []string {
	var out []string
	for _, r := range rows {
		if r.verdict() != "pass" {
			out = append(out, r.drill)
		}
	}
	return out
}

// maxDetails caps the keys listed per drill.
const maxDetails = 20

// render writes the table in Markdown, then what failed, with keys.
func render(rows []row, cfg config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# make test-chaos\n\n%g orders/s; %v of load before each fault, %v after its heal. "+
		"Seconds to converge count from the heal (for a poison record, from its produce) until every order answered 201 "+
		"has its shipment and invoice, right in content and cancellation, and the outbox is empty. "+
		"Lost: answered 201 but not shipped and invoiced right within the drill's wait (it may still come, too late); "+
		"doubled: a request key stored as more than one order; phantom: a stored order never answered 201.\n\n", cfg.Rate, cfg.Warmup, cfg.Tail)
	b.WriteString("| drill | accepted | shipped | invoiced | lost | doubled | phantom | dead-lettered | seconds to converge | result |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		b.WriteString(r.tableRow() + "\n")
	}
	for _, r := range rows {
		if len(r.details)+len(r.notes) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n", r.drill)
		for _, n := range r.notes {
			fmt.Fprintf(&b, "%s.\n\n", n)
		}
		for i, d := range r.details {
			if i == maxDetails {
				fmt.Fprintf(&b, "- … and %d more\n", len(r.details)-maxDetails)
				break
			}
			fmt.Fprintf(&b, "- %s\n", d)
		}
	}
	return b.String()
}

package ping

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// The schedules are read by robfig/cron's standard parser, as Knative's
// PingSource adapter reads them; these cases pin what infra/ may rely on.
func TestScheduleNext(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		expr, from, want string
	}{
		{"* * * * *", "2026-12-02T01:25:30Z", "2026-12-02T01:26:00Z"},
		{"*/5 * * * *", "2026-12-02T01:25:00Z", "2026-12-02T01:30:00Z"},
		{"*/5 * * * *", "2026-12-02T01:59:59Z", "2026-12-02T02:00:00Z"},
		{"0 3 * * *", "2026-12-02T03:00:00Z", "2026-12-03T03:00:00Z"},
		{"15,45 9-17 * * 1-5", "2026-12-04T17:50:00Z", "2026-12-07T09:15:00Z"}, // Friday evening to Monday
		{"0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"@hourly", "2026-12-02T01:25:30Z", "2026-12-02T02:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" after "+tt.from, func(t *testing.T) {
			s, err := cron.ParseStandard(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(at(tt.from)); !got.Equal(at(tt.want)) {
				t.Errorf("Next = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRunRefusesABadSchedule(t *testing.T) {
	for _, expr := range []string{"every five minutes", "* * * *", "*/0 * * * *", "60 * * * *", "5-1 * * * *"} {
		if _, err := cron.ParseStandard(expr); err == nil {
			t.Errorf("ParseStandard(%q): no error", expr)
		}
	}
}

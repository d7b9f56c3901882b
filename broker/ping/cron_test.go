package ping

import (
	"testing"
	"time"
)

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
		{"0 12 * * 7", "2026-12-02T00:00:00Z", "2026-12-06T12:00:00Z"}, // 7 is Sunday
	}
	for _, tt := range tests {
		t.Run(tt.expr+" after "+tt.from, func(t *testing.T) {
			s, err := ParseSchedule(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(at(tt.from)); !got.Equal(at(tt.want)) {
				t.Errorf("Next = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseScheduleRefuses(t *testing.T) {
	for _, expr := range []string{"every five minutes", "* * * *", "*/0 * * * *", "60 * * * *", "5-1 * * * *", "@hourly"} {
		if _, err := ParseSchedule(expr); err == nil {
			t.Errorf("ParseSchedule(%q): no error", expr)
		}
	}
}

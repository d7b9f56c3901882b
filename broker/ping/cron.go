package ping

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed five-field cron expression (minute, hour, day of
// month, month, day of week), the form a PingSource's spec.schedule takes.
type Schedule struct {
	fields [5]map[int]bool
	// restricted says whether day of month and day of week were given; with
	// both, cron matches a day that satisfies either.
	domAny, dowAny bool
}

// fieldRanges are the bounds of the five fields.
var fieldRanges = [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}

// ParseSchedule reads a cron expression: each field a comma-separated list
// of "*", "N", "A-B", each optionally with "/STEP".
func ParseSchedule(expr string) (Schedule, error) {
	parts := strings.Fields(expr)
	if len(parts) != 5 {
		return Schedule{}, fmt.Errorf("schedule %q: want 5 fields, got %d", expr, len(parts))
	}
	var s Schedule
	for i, part := range parts {
		set, err := parseField(part, fieldRanges[i][0], fieldRanges[i][1])
		if err != nil {
			return Schedule{}, fmt.Errorf("schedule %q: field %d: %w", expr, i+1, err)
		}
		s.fields[i] = set
	}
	if s.fields[4][7] { // 7 is Sunday too
		s.fields[4][0] = true
	}
	s.domAny, s.dowAny = parts[2] == "*", parts[4] == "*"
	return s, nil
}

func parseField(field string, lo, hi int) (map[int]bool, error) {
	set := map[int]bool{}
	for _, item := range strings.Split(field, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("step %q: want a positive number", stepText)
			}
			step = n
		}
		from, to := lo, hi
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if from, err = strconv.Atoi(a); err != nil {
				return nil, fmt.Errorf("%q: want *, a number or a range", item)
			}
			to = from
			if isRange {
				if to, err = strconv.Atoi(b); err != nil {
					return nil, fmt.Errorf("%q: want *, a number or a range", item)
				}
			} else if hasStep {
				to = hi // "N/STEP" means from N to the end
			}
		}
		if from < lo || to > hi || from > to {
			return nil, fmt.Errorf("%q: out of %d-%d", item, lo, hi)
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return set, nil
}

// Next returns the first minute after t that the schedule matches, in t's
// location.
func (s Schedule) Next(t time.Time) time.Time {
	t = t.Truncate(time.Minute).Add(time.Minute)
	// Four years of minutes cover every schedule that matches at all (29 February).
	for range 4 * 366 * 24 * 60 {
		if s.matches(t) {
			return t
		}
		t = t.Add(time.Minute)
	}
	return time.Time{}
}

func (s Schedule) matches(t time.Time) bool {
	if !s.fields[0][t.Minute()] || !s.fields[1][t.Hour()] || !s.fields[3][int(t.Month())] {
		return false
	}
	dom, dow := s.fields[2][t.Day()], s.fields[4][int(t.Weekday())]
	switch {
	case s.domAny && s.dowAny:
		return true
	case s.domAny:
		return dow
	case s.dowAny:
		return dom
	default:
		return dom || dow
	}
}

package manifest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

var errDuration = errors.New("not an ISO-8601 duration")

// parseDuration parses the ISO-8601 durations Knative uses in a delivery
// spec: PT0.2S, PT1M30S, PT10S, P1DT2H. Years and months are refused because
// their length depends on the calendar and no delivery setting needs them.
// Any component may carry a decimal fraction, as ISO-8601 allows.
func parseDuration(s string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" {
		return 0, fmt.Errorf("parse duration %q: %w", s, errDuration)
	}
	var (
		total  float64 // nanoseconds
		inTime bool    // after the T designator
		seen   = -1    // rank of the last unit, so units come in order and once
	)
	for rest != "" {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return 0, fmt.Errorf("parse duration %q: %w", s, errDuration)
			}
			inTime = true
			rest = rest[1:]
			continue
		}
		n := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != ',' })
		if n <= 0 {
			return 0, fmt.Errorf("parse duration %q: %w", s, errDuration)
		}
		// ISO-8601 allows a decimal comma.
		v, err := strconv.ParseFloat(strings.ReplaceAll(rest[:n], ",", "."), 64)
		if err != nil {
			return 0, fmt.Errorf("parse duration %q: %w", s, errDuration)
		}
		rank, scale := unit(rest[n], inTime)
		if rank <= seen {
			return 0, fmt.Errorf("parse duration %q: unit %q: %w", s, rest[n], errDuration)
		}
		seen = rank
		total += v * float64(scale)
		rest = rest[n+1:]
	}
	if seen < 0 {
		return 0, fmt.Errorf("parse duration %q: %w", s, errDuration)
	}
	if total >= math.MaxInt64 {
		return 0, fmt.Errorf("parse duration %q: out of range", s)
	}
	return time.Duration(math.Round(total)), nil
}

// unit returns the rank (position in the allowed order) and length of a
// duration unit; rank -1 marks a unit that is not allowed where it stands.
func unit(u byte, inTime bool) (rank int, scale time.Duration) {
	switch {
	case !inTime && u == 'W':
		return 0, 7 * 24 * time.Hour
	case !inTime && u == 'D':
		return 1, 24 * time.Hour
	case inTime && u == 'H':
		return 2, time.Hour
	case inTime && u == 'M':
		return 3, time.Minute
	case inTime && u == 'S':
		return 4, time.Second
	}
	return -1, 0
}

// Package money holds amounts of euros as integer cents, so that totals are
// exact: a float64 cannot hold 0.10, an int64 of cents can.
package money

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Cents is an amount of money in hundredths of the currency unit.
// On the wire it is a plain JSON number with two decimals (42.00), the shape
// the original Java services produce and accept.
type Cents int64

// ErrNotExact is returned when a number has more precision than cents.
var ErrNotExact = errors.New("amount has more than two decimals")

// Parse reads a decimal number such as "42", "42.5" or "-0.99" exactly.
// Exponents are accepted when the result stays exact (4.2e1); anything finer
// than a cent is refused rather than rounded, because silent rounding of
// prices is how invoices stop adding up.
func Parse(s string) (Cents, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty amount")
	}
	mantissa, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 20 || e < -20 {
			return 0, fmt.Errorf("amount %q: bad exponent", s)
		}
		mantissa, exp = s[:i], e
	}
	neg := strings.HasPrefix(mantissa, "-")
	mantissa = strings.TrimPrefix(mantissa, "-")
	intPart, frac, _ := strings.Cut(mantissa, ".")
	if intPart == "" && frac == "" {
		return 0, fmt.Errorf("amount %q: no digits", s)
	}
	digits := intPart + frac
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("amount %q: not a number", s)
		}
	}
	// value = digits × 10^(exp - len(frac)); we want it × 100 as an integer.
	shift := exp - len(frac) + 2
	digits = strings.TrimLeft(digits, "0")
	if shift < 0 {
		cut := len(digits) + shift
		if cut < 0 {
			cut = 0
		}
		if strings.Trim(digits[cut:], "0") != "" {
			return 0, fmt.Errorf("amount %q: %w", s, ErrNotExact)
		}
		digits = digits[:cut]
	} else {
		digits += strings.Repeat("0", shift)
	}
	if digits == "" {
		return 0, nil
	}
	if len(digits) > 17 {
		return 0, fmt.Errorf("amount %q: too large", s)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	if neg {
		v = -v
	}
	return Cents(v), nil
}

// String formats the amount with exactly two decimals, e.g. "42.00".
func (c Cents) String() string {
	sign := ""
	v := int64(c)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalJSON writes the amount as a JSON number with two decimals.
func (c Cents) MarshalJSON() ([]byte, error) {
	return []byte(c.String()), nil
}

// UnmarshalJSON reads a JSON number (or, leniently, a numeric string) exactly.
func (c *Cents) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Times multiplies the amount by a count, as for a line total.
func (c Cents) Times(n int) Cents { return c * Cents(n) }

package money

import (
	"encoding/json"
	"testing"
)

// FuzzParse: whatever Parse takes it reads exactly, so the amount it
// returns formats and parses back to itself, and its JSON round-trips.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"42", "42.5", "-0.99", "4.2e1", "0.001", "1e-2", "00.10", "", "-", ".", "1e", "1e999",
		"99999999999999999", "-99999999999999999.99", "１２", "1_000", " 7 ", "0x10", "NaN", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(c.String())
		if err != nil || back != c {
			t.Fatalf("Parse(%q) = %d, formatted %q, parsed back %d, %v", s, c, c.String(), back, err)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal %d: %v", c, err)
		}
		var got Cents
		if err := json.Unmarshal(b, &got); err != nil || got != c {
			t.Fatalf("JSON %s of %d read back as %d, %v", b, c, got, err)
		}
	})
}

package main

import "testing"

func TestReason(t *testing.T) {
	for body, want := range map[string]string{
		"{\n  \"error\": \"invalid event: order data: bad\"\n}": "invalid event: order data: bad",
		`{"message":"no such order"}`:                           "no such order",
		"plain text":                                            "plain text",
		`{"error": "cut off…`:                                   `{"error": "cut off…`,
	} {
		if got := reason(body); got != want {
			t.Errorf("reason(%q) = %q, want %q", body, got, want)
		}
	}
}

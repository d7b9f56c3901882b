package manifest

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "PT0.2S", want: 200 * time.Millisecond},
		{in: "PT0,5S", want: 500 * time.Millisecond},
		{in: "PT1M30S", want: 90 * time.Second},
		{in: "PT10S", want: 10 * time.Second},
		{in: "PT1H", want: time.Hour},
		{in: "PT1.5H", want: 90 * time.Minute},
		{in: "P1DT2H3M4.005S", want: 26*time.Hour + 3*time.Minute + 4005*time.Millisecond},
		{in: "P2W", want: 14 * 24 * time.Hour},
		{in: "PT0S", want: 0},
		{in: "", wantErr: true},
		{in: "P", wantErr: true},
		{in: "PT", wantErr: true},
		{in: "P1DT", wantErr: true},
		{in: "10S", wantErr: true},
		{in: "PT10", wantErr: true},
		{in: "PTS", wantErr: true},
		{in: "PT10s", wantErr: true},
		{in: "P1Y", wantErr: true},
		{in: "P1M", wantErr: true},
		{in: "PT1S1M", wantErr: true},
		{in: "PT1S1S", wantErr: true},
		{in: "PT1H2D", wantErr: true},
		{in: "PT1..2S", wantErr: true},
		{in: "PT-1S", wantErr: true},
		{in: "PT1TS", wantErr: true},
		{in: "PT99999999999999999S", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseDuration(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

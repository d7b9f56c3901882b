package main

import (
	"crypto/rand"
	"io"
	"slices"
	"testing"
	"time"
)

func TestParseRatesAndOnly(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://u@127.0.0.1:5436/db")
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:19292")
	c, err := parse([]string{"-rates", "150, 300", "-only", "pipeline", "-step", "3s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Rates, []float64{150, 300}) || c.Only != "pipeline" || c.Step != 3*time.Second {
		t.Errorf("parsed %+v", c)
	}
	for _, bad := range []string{"fast", "-5", "0"} {
		if _, err := parse([]string{"-rates", bad}, io.Discard); err == nil {
			t.Errorf("-rates %q accepted", bad)
		}
	}
}

func TestDataSegmentsParsed(t *testing.T) {
	out := []byte("0 0 127.0.0.1:5436 127.0.0.1:60988\n\t bbr segs_out:5 segs_in:8 data_segs_out:4 data_segs_in:4 bbr:(bw:1)\n" +
		"0 0 127.0.0.1:5436 127.0.0.1:60990\n\t segs_in:30 data_segs_in:27 lastsnd:476\n")
	if got := sumDataSegsIn(out); got != 31 {
		t.Errorf("sum of data_segs_in = %d, want 31 (segs_in not counted)", got)
	}
}

func TestPercentilesNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := percentiles(ds)
	if p.P50 != 50 || p.P95 != 95 || p.P99 != 99 || p.Max != 100 || p.N != 100 {
		t.Errorf("percentiles of 1..100 ms = %+v", p)
	}
}

// A layer holds the whole binary compressed: random bytes do not shrink,
// zeros nearly vanish.
func TestLayerSize(t *testing.T) {
	random := make([]byte, 100_000)
	rand.Read(random)
	if n := layerSize(random); n <= len(random) || n > len(random)+2048 {
		t.Errorf("layer of %d random bytes: %d bytes", len(random), n)
	}
	if n := layerSize(make([]byte, 100_000)); n > 1000 {
		t.Errorf("layer of 100,000 zeros: %d bytes", n)
	}
}

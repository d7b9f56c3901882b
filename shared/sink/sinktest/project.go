package sinktest

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
)

// Order reads and decodes the order in file.
func Order(t testing.TB, file string) events.Order {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	o, err := events.DecodeOrder(data)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// ProjectCase is a case of a projection's table test: Change changes the
// order, and Want the record expected of it; a nil Want expects the order
// refused with events.ErrInvalid.
type ProjectCase[R any] struct {
	Name   string
	Change func(o *events.Order)
	Want   func(r *R)
}

// Project runs the cases on the order in file, whose record is want().
func Project[R any](t *testing.T, proj sink.Projection[R], file string, want func() R, cases []ProjectCase[R]) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			o := Order(t, file)
			tc.Change(&o)
			got, err := proj.Project(o)
			if tc.Want == nil {
				if !errors.Is(err, events.ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := want()
			tc.Want(&w)
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("Project (-want +got):\n%s", diff)
			}
		})
	}
}

// Fuzz is the fuzz target of a sink's event decoding and projection: for
// any event data, DecodeOrder and Project either accept it or refuse it as
// events.ErrInvalid (answered 400), and what they accept can be written as
// JSON and digested, so that no stored record can break the read side.
// The seeds are the files given and f's own corpus in testdata/fuzz.
func Fuzz[R any](f *testing.F, proj sink.Projection[R], seeds ...string) {
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := events.DecodeOrder(data)
		if err != nil {
			if !errors.Is(err, events.ErrInvalid) {
				t.Fatalf("DecodeOrder: %v, want ErrInvalid", err)
			}
			return
		}
		rec, err := proj.Project(o)
		if err != nil {
			if !errors.Is(err, events.ErrInvalid) {
				t.Fatalf("Project: %v, want ErrInvalid", err)
			}
			return
		}
		if _, err := json.Marshal(rec); err != nil {
			t.Fatalf("an accepted record cannot be written as JSON: %v", err)
		}
		if d := sink.Digest(rec); len(d) != 32 || string(d) != string(sink.Digest(rec)) {
			t.Fatalf("digest %x is not stable", d)
		}
	})
}

package localstack

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The layout from one first port is the one the system tests' port ranges
// are planned around.
func TestAt(t *testing.T) {
	l := At(23100)
	got := []any{l.Gateway, l.Activator("order"), l.Activator("shipping"), l.Activator("invoicing"), l.Metrics,
		l.Instances("order"), l.Instances("invoicing"), l.Env()}
	want := []any{"127.0.0.1:23100", "127.0.0.1:23101", "127.0.0.1:23102", "127.0.0.1:23103", "127.0.0.1:23104",
		[]int{23121, 23122, 23123, 23124}, []int{23129, 23130, 23131, 23132},
		[]string{"GATEWAY_ADDR=127.0.0.1:23100", "FUNCTION_PORT=23101", "DISPATCH_METRICS_ADDR=127.0.0.1:23104"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("At(23100) (-want +got):\n%s", diff)
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stack.json")
	want := State{PID: 7, Ready: true, Gateway: "127.0.0.1:8080", Functions: map[string]Function{"order": {Addr: "127.0.0.1:8081", PID: 9}}}
	if err := want.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
}

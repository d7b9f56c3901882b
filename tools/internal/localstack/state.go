package localstack

import (
	"encoding/json"
	"fmt"
	"os"
)

// StateEnv names the file a stack keeps its State in.
const StateEnv = "STACK_STATE"

// State is what a running stack tells of itself, in the file StateEnv
// names, rewritten whenever it changes: its own PID, whether it has
// finished starting, and each function's address and current instance.
type State struct {
	PID       int                 `json:"pid"`
	Ready     bool                `json:"ready"`
	Gateway   string              `json:"gateway,omitempty"` // host:port; with ONLY, the function's
	Metrics   string              `json:"metrics,omitempty"` // host:port of the dispatcher's /metrics
	Functions map[string]Function `json:"functions"`
}

// Function is one function of a running stack.
type Function struct {
	Addr string `json:"addr"` // its activator (or, with ONLY, where it listens)
	PID  int    `json:"pid"`  // its current instance; 0 when scaled to zero
}

// Write replaces the file at path with s, whole: a reader never sees half.
// The stack is the file's one writer.
func (s State) Write(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// ReadState reads the state a stack wrote to path.
func ReadState(path string) (State, error) {
	var s State
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

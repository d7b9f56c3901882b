package main

import (
	"path/filepath"
	"testing"
)

// An absolute DATA_DIR is used as it is for every server; a relative one
// is taken from the repository.
func TestDataPath(t *testing.T) {
	abs, _ := filepath.Abs("repo/.data/kafka")
	tests := []struct {
		name, root, dataDir, server, want string
	}{
		{"absolute", "repo", "/var/lib/stack", "kafka", "/var/lib/stack/kafka"},
		{"absolute for postgres too", "repo", "/var/lib/stack", "postgres", "/var/lib/stack/postgres"},
		{"relative to the repository", "repo", ".data", "kafka", abs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dataPath(tt.root, tt.dataDir, tt.server); got != tt.want {
				t.Errorf("dataPath(%q, %q, %q) = %q, want %q", tt.root, tt.dataDir, tt.server, got, tt.want)
			}
		})
	}
}

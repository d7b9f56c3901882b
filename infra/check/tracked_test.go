package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNothingBuiltIsTracked(t *testing.T) {
	found, err := TrackedBuilds(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("tracked file %s", f)
	}
}

// TestTrackedBuildsFindsThem commits a binary, a big file and a big testdata
// file to a scratch repository: the first two are found, the third is not.
func TestTrackedBuildsFindsThem(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	write := func(rel string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("README.md", []byte("small\n"))
	write("stack", append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100)...))
	write("docs/big.json", make([]byte, MaxTrackedSize+1))
	write("x/testdata/big.json", make([]byte, MaxTrackedSize+1))
	git("add", ".")
	git("commit", "-q", "-m", "fixture")

	found, err := TrackedBuilds(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(found, "\n")
	for _, want := range []string{"stack: an executable binary", "docs/big.json: 1048577 bytes"} {
		if !strings.Contains(got, want) {
			t.Errorf("TrackedBuilds missed %q; found:\n%s", want, got)
		}
	}
	if strings.Contains(got, "x/testdata/big.json") {
		t.Errorf("TrackedBuilds flagged a testdata file:\n%s", got)
	}
}

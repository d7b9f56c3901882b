package check

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// MaxTrackedSize is the largest file the repository may track outside a
// testdata folder. Source, manifests and docs stay far below it; anything
// bigger is almost always built or downloaded output that slipped past
// .gitignore.
const MaxTrackedSize = 1 << 20

// binaryMagic are the first bytes of the executable formats a Go toolchain
// writes: ELF (Linux), Mach-O (macOS; 32/64-bit, both byte orders, fat) and
// PE (Windows).
var binaryMagic = [][]byte{
	[]byte("\x7fELF"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf},
	{0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe},
	{0xca, 0xfe, 0xba, 0xbe},
	[]byte("MZ"),
}

// TrackedBuilds lists the files git tracks in the repository at root that
// look built rather than written: executable binaries anywhere, and files
// over MaxTrackedSize outside testdata. Each entry names the file and why.
func TrackedBuilds(root string) ([]string, error) {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		return nil, fmt.Errorf("list tracked files: %w", err)
	}
	var found []string
	for _, rel := range strings.FieldsFunc(string(out), func(r rune) bool { return r == 0 }) {
		why, err := looksBuilt(root, rel)
		if err != nil {
			return nil, err
		}
		if why != "" {
			found = append(found, rel+": "+why)
		}
	}
	return found, nil
}

// looksBuilt says why the tracked file rel should not be tracked, or "".
func looksBuilt(root, rel string) (string, error) {
	f, err := os.Open(filepath.Join(root, rel))
	if os.IsNotExist(err) {
		return "", nil // deleted in the work tree, not yet committed
	}
	if err != nil {
		return "", fmt.Errorf("check %s: %w", rel, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.IsDir() { // a submodule or a directory symlink
		return "", nil
	}
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	for _, magic := range binaryMagic {
		if bytes.HasPrefix(head[:n], magic) {
			return "an executable binary (build it, do not commit it; add it to .gitignore)", nil
		}
	}
	inTestdata := slices.Contains(strings.Split(filepath.ToSlash(rel), "/"), "testdata")
	if info.Size() > MaxTrackedSize && !inTestdata {
		return fmt.Sprintf("%d bytes, over the %d-byte limit for tracked files outside testdata", info.Size(), MaxTrackedSize), nil
	}
	return "", nil
}

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// sizes reports the function binary and the compressed image layer it would
// make: func's host builder puts the one static binary in a layer of its
// own, so a gzip'd tar of that binary is that layer, near enough.
func (b *bench) sizes(ctx context.Context) error {
	st, err := os.Stat(b.bin)
	if err != nil {
		return err
	}
	// A release build as func makes it: stripped, no debug information.
	stripped := filepath.Join(os.TempDir(), fmt.Sprintf("bench-function-%d", os.Getpid()))
	defer os.Remove(stripped)
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", stripped, "./cmd/function")
	build.Dir = b.cfg.Root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("stripped build: %w: %s", err, out)
	}
	bin, err := os.ReadFile(stripped)
	if err != nil {
		return err
	}
	b.report.Sizes = Sizes{BinaryMiB: mib(st.Size()), StrippedMiB: mib(int64(len(bin))), LayerMB: float64(layerSize(bin)) / 1e6}
	fmt.Fprintf(b.out, "  bin/function %.1f MiB, stripped %.1f MiB, compressed layer %.1f MB\n",
		b.report.Sizes.BinaryMiB, b.report.Sizes.StrippedMiB, b.report.Sizes.LayerMB)
	return nil
}

// layerSize is the size of a gzip'd tar holding bin as its one file. It
// writes to memory, where nothing fails but a bad header, and this one is fixed.
func layerSize(bin []byte) int {
	var layer bytes.Buffer
	gz := gzip.NewWriter(&layer)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "function", Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	tw.Close() // the tar's end, then the gzip's: in this order
	gz.Close()
	return layer.Len()
}

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
	stripped, err := os.CreateTemp("", "function")
	if err != nil {
		return err
	}
	stripped.Close()
	defer os.Remove(stripped.Name())
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", stripped.Name(), "./cmd/function")
	build.Dir = b.cfg.Root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("stripped build: %w: %s", err, out)
	}
	layer, err := gzippedTarSize(stripped.Name())
	if err != nil {
		return err
	}
	sst, _ := os.Stat(stripped.Name())
	b.report.Sizes = Sizes{BinaryMiB: mib(st.Size()), StrippedMiB: mib(sst.Size()), LayerMB: float64(layer) / 1e6}
	fmt.Fprintf(b.out, "  bin/function %.1f MiB, stripped %.1f MiB, compressed layer %.1f MB\n",
		b.report.Sizes.BinaryMiB, b.report.Sizes.StrippedMiB, b.report.Sizes.LayerMB)
	return nil
}

// gzippedTarSize is the size of a gzip'd tar holding the file at path.
func gzippedTarSize(path string) (int64, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var layer bytes.Buffer
	gz := gzip.NewWriter(&layer)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "function", Mode: 0o755, Size: int64(len(bin))}); err != nil {
		return 0, err
	}
	if _, err := tw.Write(bin); err != nil {
		return 0, err
	}
	// The tar's end, then the gzip's: in this order.
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return 0, err
	}
	return int64(layer.Len()), nil
}

package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
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

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func gzippedTarSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var cw countingWriter
	gz := gzip.NewWriter(&cw)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "function", Mode: 0o755, Size: st.Size()}); err != nil {
		return 0, err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return 0, err
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := gz.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

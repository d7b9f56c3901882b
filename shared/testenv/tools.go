package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// JaegerBinary returns the Jaeger binary in JAEGER_BIN, which
// infra/local/jaeger.sh bin builds.
func JaegerBinary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv(EnvJaeger)
	if bin == "" {
		Missing(tb, EnvJaeger, "run `make test`, or set it to the path infra/local/jaeger.sh bin prints")
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		tb.Fatalf("%s=%s is not an executable: %v", EnvJaeger, bin, err)
	}
	return bin
}

// Chromium returns the path of Debian's Chromium.
func Chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	Missing(tb, "chromium", "run infra/local/chromium.sh")
	return ""
}

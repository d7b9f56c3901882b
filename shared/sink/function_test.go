package sink

import (
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mskafka/knative-functions/shared/telemetry"
)

// The configuration is refused before anything connects.
func TestOpenRefusesConfiguration(t *testing.T) {
	valid := Config{DatabaseURL: "postgres://nobody@127.0.0.1:1/none", DatabaseSchema: "shipping", DBMaxConns: 4}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"empty DATABASE_URL", func(c *Config) { c.DatabaseURL = "" }, "DATABASE_URL"},
		{"no connections", func(c *Config) { c.DBMaxConns = 0 }, "DB_MAX_CONNS"},
		{"not a URL", func(c *Config) { c.DatabaseURL = "postgres://%zz" }, "parse database url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			_, err := Open(t.Context(), cfg, "shipping", fstest.MapFS{}, slog.New(slog.DiscardHandler), telemetry.Noop())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open: err = %v, want one about %s", err, tt.wantErr)
			}
		})
	}
}

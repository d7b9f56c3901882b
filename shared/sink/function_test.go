package sink

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mskafka/knative-functions/shared/telemetry"
)

// The configuration is refused before anything connects.
func TestStartConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		unset   string
		wantErr string
	}{
		{name: "no DATABASE_URL", unset: "DATABASE_URL", wantErr: "DATABASE_URL"},
		{name: "empty DATABASE_URL", env: map[string]string{"DATABASE_URL": ""}, wantErr: "DATABASE_URL"},
		{name: "no connections", env: map[string]string{"DB_MAX_CONNS": "0"}, wantErr: "DB_MAX_CONNS"},
		{name: "connections not a number", env: map[string]string{"DB_MAX_CONNS": "four"}, wantErr: "DB_MAX_CONNS"},
		{name: "not a URL", env: map[string]string{"DATABASE_URL": "postgres://%zz"}, wantErr: "parse database url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
			t.Setenv("DATABASE_SCHEMA", "shipping")
			t.Setenv("DB_MAX_CONNS", "4")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.unset != "" {
				os.Unsetenv(tt.unset) // t.Setenv above restores it
			}
			_, err := Open(t.Context(), "shipping", fstest.MapFS{}, slog.New(slog.DiscardHandler), telemetry.Noop())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open: err = %v, want one about %s", err, tt.wantErr)
			}
		})
	}
}

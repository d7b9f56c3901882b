package invoicing

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

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
			t.Setenv("DATABASE_SCHEMA", "invoicing")
			t.Setenv("DB_MAX_CONNS", "4")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.unset != "" {
				os.Unsetenv(tt.unset) // t.Setenv above restores it
			}
			_, err := Start(t.Context(), slog.New(slog.DiscardHandler), telemetry.Noop())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start: err = %v, want one about %s", err, tt.wantErr)
			}
		})
	}
}

// Start as the runtime calls it: configuration from the environment, the
// embedded migrations, twice on the same schema as a restart would.
func TestPostgresStart(t *testing.T) {
	url, schema := testSchema(t)
	t.Setenv("DATABASE_URL", url)
	t.Setenv("DATABASE_SCHEMA", schema)
	for range 2 {
		f, err := Start(t.Context(), slog.New(slog.DiscardHandler), telemetry.Noop())
		if err != nil {
			t.Fatal(err)
		}
		if ready, err := f.Ready(t.Context()); !ready || err != nil {
			t.Errorf("Ready = %v, %v", ready, err)
		}
		w := httptest.NewRecorder()
		f.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/invoices", nil))
		if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "[]" {
			t.Errorf("GET /api/invoices = %d %s, want 200 []", w.Code, w.Body)
		}
		if err := f.Stop(t.Context()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}
}

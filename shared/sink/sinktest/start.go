package sinktest

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/mskafka/knative-functions/shared/sink"
	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// started is sink.Start as the root Start calls it: the embedded
// migrations, twice on the same schema as a restart would.
func (s Subject[R]) started(t *testing.T) {
	url, schema := testenv.Schema(t, s.Site.Section)
	cfg := sink.Config{DatabaseURL: url, DatabaseSchema: schema, DBMaxConns: 4}
	for range 2 {
		f, err := sink.Start(t.Context(), cfg, s.Site.Section, s.Migrations, s.Site, s.Projection,
			slog.New(slog.DiscardHandler), telemetry.Noop())
		if err != nil {
			t.Fatal(err)
		}
		if ready, err := f.Ready(t.Context()); !ready || err != nil {
			t.Errorf("Ready = %v, %v", ready, err)
		}
		api := "/api/" + s.Site.Plural
		w := newRecorder(f, http.MethodGet, api)
		if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "[]" {
			t.Errorf("GET %s = %d %s, want 200 []", api, w.Code, w.Body)
		}
		if err := f.Stop(t.Context()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}
}

// Package shipping is the shipping function: a CloudEvents sink that turns
// each placed order into a shipment in its own Postgres schema, marks it
// cancelled when the order is cancelled, and shows the shipments as HTML
// pages and JSON.
package shipping

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/mskafka/knative-functions/shared/sink"
	"github.com/mskafka/knative-functions/shared/telemetry"
)

// The migrations and page templates travel inside the binary, so the image
// needs no files beside it. (go:embed needs package variables; they are
// never written.)
var (
	//go:embed migrations/*.sql
	migrations embed.FS
	//go:embed templates/*.html
	templates embed.FS
)

// Function is a running shipping function.
type Function struct {
	mux *http.ServeMux
	db  database
}

// database is what the function needs of its pool beyond the store.
type database interface {
	Ping(ctx context.Context) error
	Close()
}

// Start opens the pool on shipping's schema, brings the schema up to date
// (see sink.Open for the configuration it reads) and builds the function.
//
// tel traces its Postgres calls; the sink's spans and metrics come with
// each request (see sink.Handler).
func Start(ctx context.Context, log *slog.Logger, tel *telemetry.Telemetry) (*Function, error) {
	pool, err := sink.Open(ctx, "shipping", migrations, log, tel)
	if err != nil {
		return nil, err
	}
	f, err := newFunction(log, NewStore(pool), pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return f, nil
}

// newFunction wires the HTTP surface to its dependencies; tests call it
// with fakes.
func newFunction(log *slog.Logger, store shipments, pool database) (*Function, error) {
	h, err := newHandlers(log, store)
	if err != nil {
		return nil, err
	}
	return &Function{mux: h.routes(), db: pool}, nil
}

// ServeHTTP serves the sink, the pages and the JSON API.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// Stop closes the pool. The runtime has stopped serving by then; Close
// waits for the connections still in use to come back.
func (f *Function) Stop(context.Context) error {
	f.db.Close()
	return nil
}

// Ready reports whether the database answers.
func (f *Function) Ready(ctx context.Context) (bool, error) {
	if err := f.db.Ping(ctx); err != nil {
		return false, fmt.Errorf("ping database: %w", err)
	}
	return true, nil
}

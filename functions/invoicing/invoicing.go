// Package invoicing is the invoicing function: a CloudEvents sink that turns
// each placed order into an invoice in its own Postgres schema, voids it
// when the order is cancelled, and shows the invoices as HTML pages and JSON.
package invoicing

import (
	"context"
	"embed"
	"log/slog"

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

// Function is a running invoicing function: its routes on its database.
type Function = sink.Function

// Start opens the pool on invoicing's schema, brings the schema up to date
// (see sink.Open for the configuration it reads) and builds the function.
//
// tel traces its Postgres calls; the sink's spans and metrics come with
// each request (see sink.Handler).
func Start(ctx context.Context, log *slog.Logger, tel *telemetry.Telemetry) (*Function, error) {
	pool, err := sink.Open(ctx, "invoicing", migrations, log, tel)
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
func newFunction(log *slog.Logger, store invoices, pool sink.Database) (*Function, error) {
	h, err := newHandlers(log, store)
	if err != nil {
		return nil, err
	}
	return sink.NewFunction(h.routes(), pool), nil
}

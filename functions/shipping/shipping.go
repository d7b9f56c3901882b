// Package shipping is the shipping function: a CloudEvents sink that turns
// each placed order into a shipment in its own Postgres schema, marks it
// cancelled when the order is cancelled, and shows the shipments as HTML
// pages and JSON.
package shipping

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

// Function is a running shipping function: its routes on its database.
type Function = sink.Function

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
func newFunction(log *slog.Logger, store shipments, pool sink.Database) (*Function, error) {
	h, err := newHandlers(log, store)
	if err != nil {
		return nil, err
	}
	return sink.NewFunction(h.routes(), pool), nil
}

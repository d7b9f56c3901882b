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

// site is what shipping's read side says about itself.
func site() sink.Site {
	return sink.Site{Section: "shipping", Plural: "shipments", Noun: "shipment", Pages: templates,
		Missing: "Shipping has no shipment for order #%d (yet). " +
			"It creates one when the order's event reaches it through Kafka, usually within a second of the order."}
}

// Start opens the pool on shipping's schema, brings the schema up to date
// (see sink.Open for the configuration it reads) and builds the function.
//
// tel traces its Postgres calls; the sink's spans and metrics come with
// each request (see sink.Handler).
func Start(ctx context.Context, log *slog.Logger, tel *telemetry.Telemetry) (*Function, error) {
	return sink.Start(ctx, "shipping", migrations, site(), projection{}, log, tel)
}

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

// The function's own files travel inside the binary.
var (
	//go:embed migrations/*.sql
	migrations embed.FS
	//go:embed templates/*.html
	templates embed.FS
)

func site() sink.Site {
	return sink.Site{Section: "shipping", Plural: "shipments", Noun: "shipment", Pages: templates}
}

// Start starts the shipping function with its configuration (see sink.Start for what it does).
func Start(ctx context.Context, cfg sink.Config, log *slog.Logger, tel *telemetry.Telemetry) (*sink.Function, error) {
	return sink.Start(ctx, cfg, "shipping", migrations, site(), projection{}, log, tel)
}

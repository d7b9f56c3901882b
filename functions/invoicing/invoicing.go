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

// The function's own files travel inside the binary.
var (
	//go:embed migrations/*.sql
	migrations embed.FS
	//go:embed templates/*.html
	templates embed.FS
)

func site() sink.Site {
	return sink.Site{Section: "invoicing", Plural: "invoices", Noun: "invoice", Pages: templates}
}

// Start starts the invoicing function with its configuration (see sink.Start for what it does).
func Start(ctx context.Context, cfg sink.Config, log *slog.Logger, tel *telemetry.Telemetry) (*sink.Function, error) {
	return sink.Start(ctx, cfg, "invoicing", migrations, site(), projection{}, log, tel)
}

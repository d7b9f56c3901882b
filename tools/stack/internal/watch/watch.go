// Package watch is the local platform page: what Kiali and the Knative
// dashboards show on a cluster, for the stack on one machine. It serves
// the stack's State at /platform/ (HTML that reloads its live part) and
// /platform/api/state (JSON), GET only, on the local gateway. It reads
// only what the stack itself knows and what Kafka and Postgres say: it
// never sends a request to a function, so watching never keeps one warm.
package watch

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/mskafka/knative-functions/shared/web"
	"github.com/mskafka/knative-functions/tools/broker/dispatch"
)

//go:embed page/*.html
var pageFiles embed.FS

//go:embed page/*.js
var scriptFiles embed.FS

// Prefix is where the gateway serves the page.
const Prefix = "/platform"

// State is the platform at one moment.
type State struct {
	At        time.Time  `json:"at"`
	Functions []Function `json:"functions"`
	Sources   []Source   `json:"kafkaSources"`
	Pings     []Ping     `json:"pingSources"`
	// Outbox is order's outbox; nil when it could not be read.
	Outbox *Outbox `json:"outbox"`
	// Problems says what could not be read (Kafka or Postgres down).
	Problems []string `json:"problems,omitempty"`
}

// Function is one function as its supervisor and activator see it.
type Function struct {
	Name string `json:"name"`
	// State is zero, starting, running, draining or crash-looping.
	State     string `json:"state"`
	Instances int    `json:"instances"`
	// ColdStartsMs are the waits of the last cold starts, the newest last.
	ColdStartsMs []int64 `json:"coldStartsMs"`
	// InFlight counts the requests under way; Held, of those, the ones the
	// activator holds while the function starts.
	InFlight int `json:"inFlight"`
	Held     int `json:"held"`
	Restarts int `json:"restarts"`
	// IdleLeftMs is how long it may stay idle before it is scaled to zero;
	// null while it is busy, at zero, or kept warm.
	IdleLeftMs *int64 `json:"idleLeftMs"`
}

// Source is one KafkaSource: what its dispatcher did, and its consumer
// group's lag as Kafka's committed offsets say.
type Source struct {
	dispatch.SourceStats
	Sink       string      `json:"sink"`
	Partitions []Partition `json:"partitions"`
	// Lag is the sum of the partitions' lags; null when Kafka could not be read.
	Lag *int64 `json:"lag"`
}

// Partition is one partition of a source's topic.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset, -1 when it has none.
	Committed int64 `json:"committed"`
	// End is the offset the next record will get.
	End int64 `json:"end"`
	Lag int64 `json:"lag"`
}

// Ping is one PingSource.
type Ping struct {
	Name     string     `json:"name"`
	Schedule string     `json:"schedule"`
	Sink     string     `json:"sink"`
	Last     *time.Time `json:"last"`
	Next     *time.Time `json:"next"`
	Status   int        `json:"status"`
	Attempts int        `json:"attempts"`
	Error    string     `json:"error,omitempty"`
}

// Outbox is the backlog of order's outbox.
type Outbox struct {
	Unsent int64 `json:"unsent"`
	// OldestAgeMs is the age of the oldest unsent row; 0 when there is none.
	OldestAgeMs int64 `json:"oldestAgeMs"`
}

// Handler serves the page and its JSON from read, below Prefix (the
// caller strips it). Every answer is read afresh.
func Handler(read func(context.Context) State, log *slog.Logger) http.Handler {
	pages := web.LazyPages(pageFiles, "page/*.html")
	scripts, _ := fs.Sub(scriptFiles, "page")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if err := pages.Render(w, r, "page/platform.html", http.StatusOK, "", map[string]any{"State": read(r.Context())}); err != nil {
			log.Error("render the platform page", "error", err)
		}
	})
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		web.JSON(w, http.StatusOK, read(r.Context()))
	})
	mux.Handle("GET /static/", web.Static())
	mux.Handle("GET /scripts/", web.Files("/scripts/", scripts, "platform.js"))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the platform page is read-only", http.StatusMethodNotAllowed)
			return
		}
		web.NotFound(w, r, "", "The platform page is at /platform/, its JSON at /platform/api/state.")
	}))
	return mux
}

// IdleLeft shows the idle time left in seconds, "" when there is none.
func (f Function) IdleLeft() string {
	if f.IdleLeftMs == nil {
		return ""
	}
	return seconds(*f.IdleLeftMs)
}

// OldestAge shows the oldest unsent row's age in seconds.
func (o Outbox) OldestAge() string { return seconds(o.OldestAgeMs) }

func seconds(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + " s" }

// Package function is the Knative function at the root of the repository: the
// one image that `func build` makes from this directory. It follows the
// func-go "instanced HTTP" contract (New, Handle, Start, Stop, Ready, Alive),
// and Start picks which of the three functions this instance is from the
// FUNCTION variable that each functions/<name>/func.yaml sets.
package function

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/mskafka/knative-functions/functions/invoicing"
	"github.com/mskafka/knative-functions/functions/order"
	"github.com/mskafka/knative-functions/functions/shipping"
	"github.com/mskafka/knative-functions/shared/sink"
	"github.com/mskafka/knative-functions/shared/telemetry"
)

// Role is what each of the three functions provides to the runtime.
type Role interface {
	http.Handler
	Stop(ctx context.Context) error
	Ready(ctx context.Context) (bool, error)
}

// configured is a role with its configuration parsed and validated: what
// to log of it (secrets masked) and its constructor bound to it.
type configured struct {
	config slog.LogValuer
	start  func(ctx context.Context, log *slog.Logger, tel *telemetry.Telemetry) (Role, error)
}

// roleConfig is what each role's typed configuration provides.
type roleConfig interface {
	Validate() error
	slog.LogValuer
}

// role parses a role's configuration C from the environment, validates it
// and binds start to it.
func role[C roleConfig, R Role](start func(context.Context, C, *slog.Logger, *telemetry.Telemetry) (R, error)) func() (configured, error) {
	return func() (configured, error) {
		var cfg C
		if err := envconfig.Process("", &cfg); err != nil {
			return configured{}, err
		}
		if err := cfg.Validate(); err != nil {
			return configured{}, err
		}
		return configured{config: cfg, start: func(ctx context.Context, log *slog.Logger, tel *telemetry.Telemetry) (Role, error) {
			r, err := start(ctx, cfg, log, tel)
			if err != nil {
				return nil, err
			}
			return r, nil
		}}, nil
	}
}

// roles lists the functions this image can be. Keeping it a function (not
// a package variable) keeps package state immutable.
func roles() map[string]func() (configured, error) {
	return map[string]func() (configured, error){
		"order":     role(order.Start),
		"shipping":  role(shipping.Start),
		"invoicing": role(invoicing.Start),
	}
}

// Function is one instance of the image, playing one role.
type Function struct {
	started atomic.Pointer[started]
	out     io.Writer
	// created is when the runtime made the instance, right after the process
	// started: the "started" line gives the cold start from there.
	created time.Time
}

// started is a Function after Start: its role, wrapped in the telemetry.
type started struct {
	role    Role
	tel     *telemetry.Telemetry
	handler http.Handler
}

// metricsPath is where the Prometheus text format is served, beside the
// role's own routes: the runtime owns the one listener a Knative Service has.
const metricsPath = "/metrics"

func newStarted(role Role, tel *telemetry.Telemetry) *started {
	traced := tel.Handler(role)
	metrics := tel.MetricsHandler()
	return &started{role: role, tel: tel, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Scrapes stay out of the traces and the request metrics.
		if r.URL.Path == metricsPath && metrics != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			metrics.ServeHTTP(w, r)
			return
		}
		traced.ServeHTTP(w, r)
	})}
}

// New is called by the func-go runtime to create the instance.
func New() *Function {
	return &Function{out: os.Stdout, created: time.Now()}
}

// config is what every instance reads, whatever its role.
type config struct {
	Function string `envconfig:"FUNCTION" required:"true" desc:"which function this instance is: order, shipping or invoicing"`
	LogLevel string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
}

// Start is called by the runtime once, concurrently with the first requests;
// Handle answers 503 until it has finished. It is the one place that reads
// the configuration: the instance's, the telemetry's and the role's, each
// parsed into its typed struct and validated before anything starts.
//
// func-go passes env, the environment laid over the KEY=VALUE lines of a
// file ./cfg. envconfig reads only the environment, so Start reads from
// there and warns about a key only ./cfg sets: this project ships no ./cfg.
func (f *Function) Start(ctx context.Context, env map[string]string) error {
	var cfg config
	if err := envconfig.Process("", &cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	prepare, ok := roles()[cfg.Function]
	if !ok {
		return fmt.Errorf("FUNCTION=%q: want one of %s", cfg.Function, strings.Join(roleNames(), ", "))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("LOG_LEVEL=%q: %w", cfg.LogLevel, err)
	}
	var tcfg telemetry.Config
	if err := envconfig.Process("", &tcfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(f.out, &slog.HandlerOptions{Level: level}))).
		With("function", cfg.Function)
	if keys := onlyInFile(env); len(keys) > 0 {
		log.Warn("configuration: ignored, set only in ./cfg (read from the environment)", "keys", keys)
	}
	role, err := prepare()
	if err != nil {
		log.Error("start failed", "error", err)
		return fmt.Errorf("configuration of %s: %w", cfg.Function, err)
	}
	log.Info("configuration", "config", role.config)
	tel, err := telemetry.New(ctx, cfg.Function, tcfg)
	if err != nil {
		log.Error("start failed", "error", err)
		return fmt.Errorf("start %s: %w", cfg.Function, err)
	}
	log.Info("telemetry", tcfg.Summary()...)
	r, err := role.start(ctx, log, tel)
	if err != nil {
		log.Error("start failed", "error", err)
		tel.Shutdown(context.WithoutCancel(ctx))
		return fmt.Errorf("start %s: %w", cfg.Function, err)
	}
	f.started.Store(newStarted(r, tel))
	log.Info("started", "cold_start_ms", time.Since(f.created).Milliseconds())
	return nil
}

// onlyInFile returns the keys of func-go's map that the environment lacks,
// sorted: those came from ./cfg.
func onlyInFile(env map[string]string) []string {
	var keys []string
	for k := range env {
		if _, ok := os.LookupEnv(k); !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// Handle serves every request but the health probes.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	s := f.started.Load()
	if s == nil {
		// Not started yet: a retriable answer, so KafkaSource redelivers.
		w.Header().Set("Retry-After", "1")
		http.Error(w, "starting, try again in a moment", http.StatusServiceUnavailable)
		return
	}
	s.handler.ServeHTTP(w, r)
}

// Ready reports whether Start has finished and the role can serve.
func (f *Function) Ready(ctx context.Context) (bool, error) {
	s := f.started.Load()
	if s == nil {
		return false, nil
	}
	return s.role.Ready(ctx)
}

// Alive reports that the process is serving; a slow database makes it
// unready, not dead, so Kubernetes does not restart it for that.
func (f *Function) Alive(context.Context) (bool, error) { return true, nil }

// Stop releases the role's resources when the runtime shuts down, then
// sends the spans and metrics still buffered.
func (f *Function) Stop(ctx context.Context) error {
	s := f.started.Load()
	if s == nil {
		return nil
	}
	return errors.Join(s.role.Stop(ctx), s.tel.Shutdown(ctx))
}

func roleNames() []string {
	names := make([]string, 0, 3)
	for n := range roles() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Usage writes the environment variables of the image and of each role.
func Usage(w io.Writer) error {
	specs := []struct {
		name string
		spec any
	}{
		{"all functions", &config{}},
		{"telemetry (standard OpenTelemetry variables; unset: no tracing, /metrics only)", &telemetry.Config{}},
		{"order", &order.Config{}},
		{"shipping", &sink.Config{}},
		{"invoicing", &sink.Config{}},
	}
	var errs []error
	for _, s := range specs {
		fmt.Fprintf(w, "\n%s:\n", s.name)
		errs = append(errs, envconfig.Usagef("", s.spec, w, usageFormat))
	}
	return errors.Join(errs...)
}

const usageFormat = `{{range .}}  {{usage_key .}}{{if usage_default .}}={{usage_default .}}{{end}}	{{usage_description .}}{{if usage_required .}} (required){{end}}
{{end}}`

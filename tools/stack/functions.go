package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/tools/internal/localstack"
	"github.com/mskafka/knative-functions/tools/stack/internal/activator"
	"github.com/mskafka/knative-functions/tools/stack/internal/supervise"
)

const (
	// retentionAnnotation is the Knative setting that infra/ gives each
	// function: how long its last pod stays after the last request.
	retentionAnnotation = "autoscaling.knative.dev/scale-to-zero-pod-retention-period"
	// gracePeriod is Knative's default terminationGracePeriodSeconds: a
	// function gets this long to drain after SIGTERM before it is killed.
	gracePeriod = 30 * time.Second
)

// startFunctions runs each function under a supervisor with an activator
// in front, on its layout's address. All are started once at start-up, so
// a broken build or database shows at once; without WARM they then scale
// to zero after the idle period.
func (p *platform) startFunctions(ctx context.Context, cfg config, srv servers, layout localstack.Layout) (*functions, error) {
	idle, err := idlePeriod(cfg)
	if err != nil {
		return nil, err
	}
	fns := newFunctions(cfg, layout)
	p.cleanup(fns.remove) // after the functions have stopped: cleanups run in reverse
	for _, name := range localstack.StartOrder() {
		proc, err := p.supervised(cfg, srv, name, "", fns.changed)
		if err != nil {
			return nil, err
		}
		p.cleanup(proc.Down)
		a := activator.New(proc, idle, p.con.step, activator.WithTracing(srv.tel.TracerProvider, srv.tel.Propagator))
		addr := layout.Activator(name)
		// No write timeout: a held request may wait for a cold start.
		if err := p.serve(&http.Server{Addr: addr, Handler: a, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}); err != nil {
			return nil, fmt.Errorf("%s activator: %w", name, err)
		}
		fns.add(name, addr, proc, a)
		if _, err := proc.Up(ctx); err != nil {
			return nil, err
		}
		a.Idle()
		p.con.step("%s: ready behind its activator on %s", name, addr)
	}
	if idle > 0 {
		p.con.step("scale to zero: a function idle for %s is stopped; its next request starts it (WARM=1 keeps them running)", idle)
	} else {
		p.con.step("functions stay warm (WARM=1)")
	}
	return fns, nil
}

// functions are the functions of one run: where the gateway, the
// dispatchers and the pings reach them, and what the state file says of them.
type functions struct {
	urls  map[string]string // each function's base URL
	local inProcess         // how the gateway, dispatchers and pings reach those URLs

	mu      sync.Mutex
	started map[string]started
	state   localstack.State // the PIDs are filled in as it is written
	path    string           // the state file; empty once removed
}

// started is one function's supervisor and activator (nil when it runs alone).
type started struct {
	proc *supervise.Process
	act  *activator.Activator
}

func newFunctions(cfg config, layout localstack.Layout) *functions {
	return &functions{urls: map[string]string{}, local: inProcess{}, started: map[string]started{}, path: cfg.StateFile,
		state: localstack.State{PID: os.Getpid(), Gateway: layout.Gateway, Functions: map[string]localstack.Function{}}}
}

// add records a started function; a is its activator, nil when it runs alone.
func (f *functions) add(name, addr string, proc *supervise.Process, a *activator.Activator) {
	f.urls[name] = "http://" + addr + "/"
	if a != nil {
		f.local[addr] = a
	}
	f.mu.Lock()
	f.started[name] = started{proc, a}
	f.state.Functions[name] = localstack.Function{Addr: addr}
	f.mu.Unlock()
	f.changed()
}

// changed rewrites the state file with each function's current PID.
func (f *functions) changed() { f.write(false) }

// remove removes the state file: the stack is gone.
func (f *functions) remove() {
	f.mu.Lock()
	defer f.mu.Unlock()
	os.Remove(f.path)
	f.path = ""
}

// write rewrites the state file; ready says that the stack has started.
func (f *functions) write(ready bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.path == "" {
		return nil
	}
	for name, s := range f.started {
		fn := f.state.Functions[name]
		st := s.proc.State()
		fn.PID, fn.Exec = st.PID, st.Exec
		f.state.Functions[name] = fn
	}
	f.state.Ready = f.state.Ready || ready
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return err
	}
	return f.state.Write(f.path)
}

// inProcess hands a request for an activator's address to that activator
// in this process rather than over loopback: the gateway, the dispatchers
// and the pings run here, and the hop would only cost CPU. Any other
// address goes over the network.
type inProcess map[string]*activator.Activator

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if a, ok := t[req.URL.Host]; ok {
		return a.RoundTrip(req)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// supervised returns the supervisor of one function, with the environment
// its func.yaml sets plus the local addresses, as `func run` would. It
// listens on addr, or, when addr is empty, on its instance ports.
func (p *platform) supervised(cfg config, srv servers, name, addr string, changed func()) (*supervise.Process, error) {
	dbURL, err := db.WithUser(srv.adminURL, db.Role(name), "")
	if err != nil {
		return nil, err
	}
	fenv, err := funcYAMLEnv(filepath.Join(cfg.Root, "functions", name, "func.yaml"))
	if err != nil {
		return nil, err
	}
	env := append(append(os.Environ(), fenv...), "DATABASE_URL="+dbURL, "KAFKA_BROKERS="+strings.Join(srv.brokers, ","))
	bin := cfg.Bin
	if !filepath.IsAbs(bin) {
		bin = filepath.Join(cfg.Root, bin)
	}
	layout := localstack.Layout{FunctionPort: cfg.FirstPort}
	return supervise.New(supervise.Spec{Name: name, Bin: bin, Env: append(env, srv.otelEnv...), Out: p.con.prefixed(name),
		Report: p.con.step, Grace: gracePeriod, Addr: addr, Ports: layout.Instances(name), Changed: changed}), nil
}

// serve runs srv until the stack stops. A server that cannot listen is an
// error here; one that stops on its own later makes the stack fail.
func (p *platform) serve(srv *http.Server) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	go func() { p.fail(fmt.Errorf("serve %s: %w", srv.Addr, srv.Serve(ln))) }()
	p.cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	return nil
}

// idlePeriod is how long a function may go without requests before it is
// stopped: SCALE_TO_ZERO_IDLE if set, else the retention period in
// infra/functions/revision-template.yaml; zero with WARM.
func idlePeriod(cfg config) (time.Duration, error) {
	if cfg.Warm {
		return 0, nil
	}
	if cfg.Idle > 0 {
		return cfg.Idle, nil
	}
	path := filepath.Join(cfg.Root, "infra", "functions", "revision-template.yaml")
	var patch struct {
		Spec struct {
			Template struct {
				Metadata struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := readYAML(path, &patch); err != nil {
		return 0, fmt.Errorf("the idle period: %w", err)
	}
	v := patch.Spec.Template.Metadata.Annotations[retentionAnnotation]
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %s %q: want a positive duration", path, retentionAnnotation, v)
	}
	return d, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/mskafka/knative-functions/cmd/stack/internal/activator"
	"github.com/mskafka/knative-functions/cmd/stack/internal/supervise"
	"github.com/mskafka/knative-functions/shared/db"
)

// retentionAnnotation is the Knative setting that infra/ gives each function:
// how long its last pod stays after the last request.
const retentionAnnotation = "autoscaling.knative.dev/scale-to-zero-pod-retention-period"

// gracePeriod is Knative's default terminationGracePeriodSeconds: a
// function gets this long to drain after SIGTERM before it is killed.
const gracePeriod = 30 * time.Second

// startFunctions runs each function under a supervisor with an activator in
// front, on its FUNCTION_PORT address; with ONLY, the one function alone on
// the gateway's address. All are started once at start-up, so a broken
// build or database shows at once; without WARM they then scale to zero
// after the idle period.
func (s *stack) startFunctions(ctx context.Context) error {
	idle, err := s.idlePeriod()
	if err != nil {
		return err
	}
	s.urls = map[string]string{}
	s.local = inProcess{}
	for _, name := range s.names() {
		p, err := s.supervised(name)
		if err != nil {
			return err
		}
		s.cleanup(p.Down)
		if s.cfg.Only != "" {
			s.con.step("%s: starting on %s", name, s.cfg.Gateway)
			if _, err := p.Up(ctx); err != nil {
				return err
			}
			s.urls[name] = "http://" + s.cfg.Gateway + "/"
			continue
		}
		a := activator.New(p, idle, s.report)
		addr := s.functionAddr(name)
		if err := s.serve(addr, a); err != nil {
			return fmt.Errorf("%s activator: %w", name, err)
		}
		s.urls[name] = "http://" + addr + "/"
		s.local[addr] = a
		if _, err := p.Up(ctx); err != nil {
			return err
		}
		a.Idle()
		s.con.step("%s: ready behind its activator on %s", name, addr)
	}
	if s.cfg.Only == "" {
		if idle > 0 {
			s.con.step("scale to zero: a function idle for %s is stopped; its next request starts it (WARM=1 keeps them running)", idle)
		} else {
			s.con.step("functions stay warm (WARM=1)")
		}
	}
	return nil
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
// its func.yaml sets plus the local addresses, as `func run` would.
func (s *stack) supervised(name string) (*supervise.Process, error) {
	dbURL, err := db.WithUser(s.adminURL, db.Role(name), "")
	if err != nil {
		return nil, err
	}
	fenv, err := funcYAMLEnv(filepath.Join(s.cfg.Root, "functions", name, "func.yaml"))
	if err != nil {
		return nil, err
	}
	env := append(append(os.Environ(), fenv...), "DATABASE_URL="+dbURL, "KAFKA_BROKERS="+strings.Join(s.brokers, ","))
	bin := s.cfg.Bin
	if !filepath.IsAbs(bin) {
		bin = filepath.Join(s.cfg.Root, bin)
	}
	spec := supervise.Spec{Name: name, Bin: bin, Env: append(env, s.otelEnv...), Out: s.con.prefixed(name),
		Report: s.report, Grace: gracePeriod, Ports: s.instancePorts(name)}
	if s.cfg.Only != "" {
		spec.Addr = s.cfg.Gateway
	}
	return supervise.New(spec), nil
}

// report prints a line of the platform's own (supervisor, activator).
func (s *stack) report(format string, args ...any) { s.con.step(format, args...) }

// instancePorts are the ports a function's instances take turns on: four
// per function, 20 above FUNCTION_PORT, below the ephemeral range.
func (s *stack) instancePorts(name string) []int {
	first := s.cfg.FirstPort + 20 + 4*indexOf(name)
	return []int{first, first + 1, first + 2, first + 3}
}

// functionAddr is where a function's activator listens.
func (s *stack) functionAddr(name string) string {
	return fmt.Sprintf("127.0.0.1:%d", s.cfg.FirstPort+indexOf(name))
}

// serve serves h on addr until the stack stops, with the timeouts of the
// gateway (a held request may wait for a cold start, so no write timeout).
func (s *stack) serve(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.report("%s: %v", addr, err)
		}
	}()
	s.cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	return nil
}

// idlePeriod is how long a function may go without requests before it is
// stopped: SCALE_TO_ZERO_IDLE if set, else the retention period in
// infra/functions/revision-template.yaml; zero with WARM.
func (s *stack) idlePeriod() (time.Duration, error) {
	if s.cfg.Warm {
		return 0, nil
	}
	if s.cfg.Idle > 0 {
		return s.cfg.Idle, nil
	}
	path := filepath.Join(s.cfg.Root, "infra", "functions", "revision-template.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read the idle period: %w", err)
	}
	var patch struct {
		Spec struct {
			Template struct {
				Metadata struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &patch); err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	v := patch.Spec.Template.Metadata.Annotations[retentionAnnotation]
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %s %q: want a positive duration", path, retentionAnnotation, v)
	}
	return d, nil
}

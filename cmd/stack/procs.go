package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"
)

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startFunction runs one function as its own process, with the environment
// its func.yaml sets (FUNCTION=…) plus the local addresses, as `func run` would.
func startFunction(bin, funcYAML, name, addr string, out io.Writer, env []string) (*process, error) {
	fenv, err := funcYAMLEnv(funcYAML)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(append(os.Environ(), fenv...), env...), "LISTEN_ADDRESS="+addr)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop asks the function to shut down gracefully, then insists.
func (p *process) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// funcYAMLEnv returns the literal variables of a func.yaml's run.envs;
// values that refer to secrets or config maps ({{ … }}) are for the cluster.
func funcYAMLEnv(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var f struct {
		Run struct {
			Envs []struct{ Name, Value string } `json:"envs"`
		} `json:"run"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var env []string
	for _, e := range f.Run.Envs {
		if !strings.Contains(e.Value, "{{") {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	return env, nil
}

// waitReady polls the function's readiness probe until it answers 200.
func waitReady(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"health/readiness", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after 60s: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// console serialises the lines of all processes onto one output.
type console struct {
	mu  sync.Mutex
	out io.Writer
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format, args...)
}

// prefixed writes each line of a process's output with its name in front,
// so the interleaved logs of three functions stay readable.
func (c *console) prefixed(name string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		s := bufio.NewScanner(pr)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			c.printf("%-10s %s\n", name, s.Text())
		}
	}()
	return pw
}

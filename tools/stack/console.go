package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
)

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

// step prints one line of the stack's own progress.
func (c *console) step(format string, args ...any) { c.printf("▸ "+format+"\n", args...) }

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

// funcYAMLEnv returns the literal variables of a func.yaml's run.envs;
// values that refer to secrets or config maps ({{ … }}) are for the cluster.
func funcYAMLEnv(path string) ([]string, error) {
	var f struct {
		Run struct {
			Envs []struct{ Name, Value string } `json:"envs"`
		} `json:"run"`
	}
	if err := readYAML(path, &f); err != nil {
		return nil, err
	}
	var env []string
	for _, e := range f.Run.Envs {
		if !strings.Contains(e.Value, "{{") {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	return env, nil
}

// readYAML decodes the YAML file at path into v.
func readYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if err == nil {
		err = yaml.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

package supervise

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// tail passes a process's output on and keeps its last lines, so a function
// that dies during start can be reported with what it said last.
type tail struct {
	mu    sync.Mutex
	out   io.Writer
	lines []string
	part  []byte
	max   int
}

func newTail(out io.Writer, max int) *tail { return &tail{out: out, max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, string(t.part[:i]))
		t.part = t.part[i+1:]
	}
	if n := len(t.lines); n > t.max {
		t.lines = append(t.lines[:0:0], t.lines[n-t.max:]...)
	}
	t.mu.Unlock()
	return t.out.Write(p)
}

// String returns the kept lines, the unfinished one included.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := append([]string(nil), t.lines...)
	if len(t.part) > 0 {
		lines = append(lines, string(t.part))
	}
	return strings.Join(lines, "\n")
}

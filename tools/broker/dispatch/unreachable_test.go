package dispatch_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mskafka/knative-functions/tools/broker/dispatch"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// lockedBuffer is a log sink that Run's goroutines may write concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A dispatcher started while Kafka is unreachable keeps trying, as the
// platform's does, instead of ending (which would take the local stack
// down with it); it stops cleanly when its context ends.
func TestRunKeepsTryingWhileKafkaIsUnreachable(t *testing.T) {
	var logs lockedBuffer
	src := manifest.KafkaSource{
		Name: "order-to-sink", Namespace: "test", Topics: []string{"order"}, ConsumerGroup: "sink",
		Sink: manifest.Destination{Ref: &manifest.Ref{APIVersion: manifest.ServiceAPIVersion, Kind: manifest.ServiceKind, Name: "sink"}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	d, err := dispatch.New(dispatch.Config{
		Brokers: []string{"127.0.0.1:1"}, Sources: []manifest.KafkaSource{src},
		Services: map[string]string{"sink": "http://127.0.0.1:1/"},
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil once its context ends", err)
	}
	if !strings.Contains(logs.String(), "trying again") {
		t.Errorf("no retry logged:\n%s", logs.String())
	}
}

package function

import (
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mskafka/knative-functions/functions/order"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
)

// TestRetentionOutlivesTopic: by default the records that deduplicate
// events (the sinks' handled events, order's idempotency keys) are kept at
// least as long as the topic can deliver an event again: a segment is
// deleted once its newest record is older than retention.ms, and takes new
// records for up to segment.ms.
func TestRetentionOutlivesTopic(t *testing.T) {
	manifest, err := os.ReadFile("infra/kafka/topics.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var topic string
	for doc := range strings.SplitSeq(string(manifest), "\n---\n") {
		if regexp.MustCompile(`(?m)^\s+name: ` + events.Topic + `$`).MatchString(doc) {
			topic = doc
		}
	}
	ms := func(key string) time.Duration {
		m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(key) + `: (\d+)`).FindStringSubmatch(topic)
		if m == nil {
			t.Fatalf("infra/kafka/topics.yaml: topic %s sets no %s", events.Topic, key)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return time.Duration(n) * time.Millisecond
	}
	onTopic := ms("retention.ms") + ms("segment.ms")
	for _, tt := range []struct {
		name   string
		config any
		field  string
	}{
		{"order", order.Config{}, "KeyRetention"},
		{"order", order.Config{}, "OutboxRetention"},
		{"sinks", sink.Config{}, "HandledRetention"},
	} {
		f, _ := reflect.TypeOf(tt.config).FieldByName(tt.field)
		d, err := time.ParseDuration(f.Tag.Get("default"))
		if err != nil {
			t.Fatalf("%s %s: default: %v", tt.name, tt.field, err)
		}
		if d < onTopic {
			t.Errorf("%s %s (%s) defaults to %v, shorter than the topic keeps a record (retention.ms + segment.ms = %v)",
				tt.name, tt.field, f.Tag.Get("envconfig"), d, onTopic)
		}
	}
}

package order

import (
	"reflect"
	"testing"

	"github.com/mskafka/knative-functions/shared/events"
)

// The topic the order function publishes to by default is the one the
// KafkaSources read.
func TestConfigDefaultTopic(t *testing.T) {
	f, _ := reflect.TypeFor[Config]().FieldByName("KafkaTopic")
	if got := f.Tag.Get("default"); got != events.Topic {
		t.Errorf("KAFKA_TOPIC defaults to %q, want events.Topic (%q)", got, events.Topic)
	}
}

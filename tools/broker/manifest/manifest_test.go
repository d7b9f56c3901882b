package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadInfraEventing(t *testing.T) {
	got, err := Load(filepath.Join("..", "..", "..", "infra", "eventing"))
	if err != nil {
		t.Fatal(err)
	}
	source := func(name, group, service string) KafkaSource {
		return KafkaSource{
			Name:             name,
			Namespace:        "ms-kafka",
			BootstrapServers: []string{"ms-kafka-kafka-bootstrap.ms-kafka.svc:9092"},
			Topics:           []string{"order"},
			ConsumerGroup:    group,
			InitialOffset:    OffsetEarliest,
			Ordering:         Ordered,
			Delivery: Delivery{
				Retry:         10,
				BackoffPolicy: BackoffExponential,
				BackoffDelay:  500 * time.Millisecond,
				Timeout:       10 * time.Second,
				DeadLetterSink: &Destination{Ref: &Ref{
					APIVersion: SinkAPIVersion, Kind: SinkKind, Name: "order-dead-letter",
				}},
			},
			Sink: Destination{Ref: &Ref{APIVersion: ServiceAPIVersion, Kind: ServiceKind, Name: service}},
		}
	}
	want := Set{
		Sources: []KafkaSource{
			source("order-to-shipping", "shipping", "shipping"),
			source("order-to-invoicing", "invoicing", "invoicing"),
		},
		KafkaSinks: map[string]KafkaSink{
			"order-dead-letter": {
				Name:             "order-dead-letter",
				Namespace:        "ms-kafka",
				Topic:            "order-dead-letter",
				ContentMode:      ContentBinary,
				BootstrapServers: []string{"ms-kafka-kafka-bootstrap.ms-kafka.svc:9092"},
			},
		},
		Pings: []PingSource{{
			Name: "order-outbox-drain", Namespace: "ms-kafka", Schedule: "*/5 * * * *",
			ContentType: "application/json", Data: `{"drain":"outbox"}`,
			Sink: Destination{Ref: &Ref{APIVersion: ServiceAPIVersion, Kind: ServiceKind, Name: "order"}},
		}, {
			Name: "shipping-retention", Namespace: "ms-kafka", Schedule: "7,22,37,52 * * * *",
			ContentType: "application/json", Data: `{"delete":"handled events past their retention"}`,
			Sink: Destination{Ref: &Ref{APIVersion: ServiceAPIVersion, Kind: ServiceKind, Name: "shipping"}},
		}, {
			Name: "invoicing-retention", Namespace: "ms-kafka", Schedule: "8,23,38,53 * * * *",
			ContentType: "application/json", Data: `{"delete":"handled events past their retention"}`,
			Sink: Destination{Ref: &Ref{APIVersion: ServiceAPIVersion, Kind: ServiceKind, Name: "invoicing"}},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load(infra/eventing) mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(filepath.Join("testdata", "mixed"))
	if err != nil {
		t.Fatal(err)
	}
	want := Set{
		Sources: []KafkaSource{{
			Name:          "plain",
			Namespace:     "default",
			Topics:        []string{"order"},
			ConsumerGroup: "plain",
			InitialOffset: OffsetLatest,
			Ordering:      Unordered,
			Delivery:      Delivery{Retry: 10, BackoffPolicy: BackoffExponential, BackoffDelay: 300 * time.Millisecond},
			Sink:          Destination{URI: "http://127.0.0.1:9999/events"},
		}},
		KafkaSinks: map[string]KafkaSink{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load(testdata/mixed) mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		dir     string // a directory under testdata, or
		yaml    string // a manifest written to a temporary directory
		wantErr string
	}{
		{name: "unknown field", dir: "unknown-field", wantErr: `unknown field "retries"`},
		{name: "bad duration", dir: "bad-duration", wantErr: `backoffDelay: parse duration "200ms"`},
		{name: "bad initial offset", yaml: source("initialOffset: newest"), wantErr: `spec.initialOffset "newest"`},
		{name: "bad ordering", yaml: source("ordering: sorted"), wantErr: `spec.ordering "sorted"`},
		{name: "no consumer group", yaml: strings.Replace(source(""), "consumerGroup: g", "", 1), wantErr: "spec.consumerGroup is required"},
		{name: "bad policy", yaml: source("delivery: {backoffPolicy: random}"), wantErr: `backoffPolicy "random"`},
		{name: "negative retry", yaml: source("delivery: {retry: -1}"), wantErr: "retry -1"},
		{name: "bad timeout", yaml: source("delivery: {timeout: PT}"), wantErr: `timeout: parse duration "PT"`},
		{name: "empty dead letter sink", yaml: source("delivery: {deadLetterSink: {}}"), wantErr: "deadLetterSink: want ref or uri"},
		{name: "unknown metadata field", yaml: strings.Replace(source(""), "name: s", "name: s\n  uid: x", 1), wantErr: `unknown field "uid"`},
		{name: "duplicate source", yaml: source("") + "---\n" + source(""), wantErr: `KafkaSource "s" declared twice`},
		{name: "old source version", yaml: strings.Replace(source(""), "sources.knative.dev/v1", "sources.knative.dev/v1beta1", 1), wantErr: "unsupported apiVersion"},
		{name: "sink without topic", yaml: "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: dl}\nspec: {numPartitions: 1}\n", wantErr: "spec.topic is required"},
		{name: "sink content mode", yaml: "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: dl}\nspec: {topic: dl, contentMode: text}\n", wantErr: `spec.contentMode "text"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join("testdata", tt.dir)
			if tt.yaml != "" {
				dir = t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(tt.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Load() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// source returns a valid KafkaSource manifest with extra lines in its spec.
func source(extra string) string {
	return `apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata:
  name: s
spec:
  topics: [t]
  consumerGroup: g
  sink: {uri: "http://127.0.0.1:1/"}
  ` + extra + "\n"
}

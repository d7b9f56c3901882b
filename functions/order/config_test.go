package order

import (
	"reflect"
	"strings"
	"testing"
	"time"

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

// Validate refuses retention settings that would delete nothing, or delete
// the event a repeated command is answered with before its key.
func TestConfigValidateRetention(t *testing.T) {
	valid := Config{DatabaseURL: "postgres://nobody@127.0.0.1:1/none", DBMaxConns: 8, KafkaBrokers: []string{"k:9092"},
		KafkaTopic: "order", OutboxInterval: time.Second, KeyRetention: 216 * time.Hour, OutboxRetention: 216 * time.Hour,
		RetentionBatch: 1000, RetentionTime: 10 * time.Second, GroupCommit: 8}
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate(valid) = %v", err)
	}
	for _, tt := range []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"no key retention", func(c *Config) { c.KeyRetention = 0 }, "IDEMPOTENCY_KEY_RETENTION"},
		{"outbox shorter than keys", func(c *Config) { c.OutboxRetention = time.Hour }, "OUTBOX_RETENTION=1h0m0s: want at least"},
		{"empty batches", func(c *Config) { c.RetentionBatch = -1 }, "RETENTION_BATCH"},
		{"no time to delete", func(c *Config) { c.RetentionTime = 0 }, "RETENTION_TIME"},
		{"no group", func(c *Config) { c.GroupCommit = 0 }, "GROUP_COMMIT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate: err = %v, want one about %s", err, tt.wantErr)
			}
		})
	}
}

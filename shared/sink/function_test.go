package sink

import (
	"strings"
	"testing"
	"time"
)

// The configuration is refused by Validate, which the root function calls
// once, before any role starts.
func TestValidateRefusesConfiguration(t *testing.T) {
	valid := Config{DatabaseURL: "postgres://nobody@127.0.0.1:1/none", DatabaseSchema: "shipping", DBMaxConns: 4,
		HandledRetention: 216 * time.Hour, RetentionBatch: 1000, RetentionTime: 10 * time.Second, GroupCommit: 8}
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate(valid) = %v", err)
	}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"empty DATABASE_URL", func(c *Config) { c.DatabaseURL = "" }, "DATABASE_URL"},
		{"no connections", func(c *Config) { c.DBMaxConns = 0 }, "DB_MAX_CONNS"},
		{"not a URL", func(c *Config) { c.DatabaseURL = "postgres://%zz" }, "DATABASE_URL"},
		{"no retention", func(c *Config) { c.HandledRetention = 0 }, "HANDLED_EVENT_RETENTION"},
		{"empty batches", func(c *Config) { c.RetentionBatch = 0 }, "RETENTION_BATCH"},
		{"no time to delete", func(c *Config) { c.RetentionTime = 0 }, "RETENTION_TIME"},
		{"no group", func(c *Config) { c.GroupCommit = 0 }, "GROUP_COMMIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate: err = %v, want one about %s", err, tt.wantErr)
			}
		})
	}
}

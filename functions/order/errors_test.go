package order

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestClassify is the status table: permanent failures are 4xx (a sender
// does not retry them), transient ones 5xx with the message given.
func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantMsg    string
	}{
		{"request", badRequest("page must be a whole number"), 400, "page must be a whole number"},
		{"invalid order", &InvalidError{Problems: []Problem{{"customer", "choose a customer"}}}, 400, "invalid order: customer: choose a customer"},
		{"not found", fmt.Errorf("get: %w", ErrNotFound), 404, "get: order not found"},
		{"reused key", &ReusedError{Key: CommandKey{ID: "k"}, OrderID: 7}, 422, `Idempotency-Key "k" was used before, for order 7`},
		{"reused command", fmt.Errorf("place: %w", &ReusedError{Key: CommandKey{Source: "/s", ID: "1"}, OrderID: 7}), 422, `source "/s" and id "1" were used before, for order 7`},
		{"Postgres data exception", fmt.Errorf("insert order: %w", &pgconn.PgError{Code: "22021", Message: `invalid byte sequence for encoding "UTF8": 0x00`}), 400,
			`a value cannot be stored: invalid byte sequence for encoding "UTF8": 0x00`},
		{"Postgres timestamp out of range", &pgconn.PgError{Code: "22008", Message: "timestamp out of range"}, 400, "a value cannot be stored: timestamp out of range"},
		{"Postgres serialization failure", &pgconn.PgError{Code: "40001"}, 500, "retry"},
		{"lost connection", errors.New("commit order: conn closed"), 500, "retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err, "retry")
			if got.status != tt.wantStatus || len(got.msg) < len(tt.wantMsg) || got.msg[:len(tt.wantMsg)] != tt.wantMsg {
				t.Errorf("classify = %d %q, want %d %q…", got.status, got.msg, tt.wantStatus, tt.wantMsg)
			}
			if got.status == http.StatusConflict || got.status == http.StatusNotFound && tt.name != "not found" {
				t.Errorf("%d is retried by a KafkaSource", got.status)
			}
		})
	}
}

package db

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestPermanent(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"22008", true},  // datetime_field_overflow: timestamp out of range
		{"22021", true},  // character_not_in_repertoire: a NUL or invalid UTF-8
		{"22003", true},  // numeric_value_out_of_range
		{"23502", true},  // not_null_violation
		{"23514", true},  // check_violation
		{"54000", true},  // program_limit_exceeded: index row too large
		{"23505", false}, // unique_violation: a concurrent writer, a retry sees it
		{"40001", false}, // serialization_failure
		{"57P01", false}, // admin_shutdown
	}
	for _, tt := range tests {
		err := fmt.Errorf("insert: %w", &pgconn.PgError{Code: tt.code})
		if got := Permanent(err); got != tt.want {
			t.Errorf("Permanent(%s) = %v, want %v", tt.code, got, tt.want)
		}
	}
	if Permanent(errors.New("conn closed")) {
		t.Error("a connection error is permanent")
	}
}

package db

import (
	"math/big"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mskafka/knative-functions/shared/money"
)

// Numeric is an amount as a Postgres numeric: its cents × 10⁻², exact, for
// the numeric(12,2) columns of order and invoicing.
func Numeric(c money.Cents) pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(int64(c)), Exp: -2, Valid: true}
}

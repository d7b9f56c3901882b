package testenv

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Usage is what the Postgres server of pool and this process have done so
// far, for a benchmark to report per operation (ReportSince).
type Usage struct {
	// WAL is the server's WAL position in bytes.
	WAL int64
	// Xacts is the next transaction id: a transaction takes one when it
	// first writes, so its growth counts the commits that flush the WAL
	// (and the rollbacks of transactions that wrote).
	Xacts int64
	// ServerCPU is the CPU time of every Postgres process (its backends
	// and its writers); Client is this process's.
	ServerCPU, Client time.Duration
}

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ).
const clockTick = 10 * time.Millisecond

// ServerUsage reads the Usage so far.
func ServerUsage(tb testing.TB, pool *pgxpool.Pool) Usage {
	tb.Helper()
	var u Usage
	ctx := context.Background()
	err := pool.QueryRow(ctx, `SELECT (pg_current_wal_lsn() - '0/0')::bigint, pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).
		Scan(&u.WAL, &u.Xacts)
	if err != nil {
		tb.Fatal(err)
	}
	rows, _ := pool.Query(ctx, `SELECT pid FROM pg_stat_activity`)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		tb.Fatal(err)
	}
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone, or another machine's
		}
		// utime and stime, in clock ticks, are the 14th and 15th fields;
		// the 2nd, the name, may hold spaces and ends with ')'.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		u.ServerCPU += time.Duration(ut+st) * clockTick
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	u.Client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return u
}

// ReportSince reports what was done since before, per operation of b:
// wal-B/op, commits/op, pg-cpu-µs/op and cpu-µs/op (this process).
func (u Usage) ReportSince(b *testing.B, before Usage) {
	n := float64(b.N)
	b.ReportMetric(float64(u.WAL-before.WAL)/n, "wal-B/op")
	b.ReportMetric(float64(u.Xacts-before.Xacts)/n, "commits/op")
	b.ReportMetric(float64(u.ServerCPU-before.ServerCPU)/float64(time.Microsecond)/n, "pg-cpu-µs/op")
	b.ReportMetric(float64(u.Client-before.Client)/float64(time.Microsecond)/n, "cpu-µs/op")
}

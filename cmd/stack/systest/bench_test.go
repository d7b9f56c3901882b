package systest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// BenchmarkStartToReady measures what scale-from-zero costs: from exec of
// bin/function to its first 200 on /health/readiness (schema already
// migrated, as after the first start), and the resident memory once ready.
func BenchmarkStartToReady(b *testing.B) {
	_, bin := binaries(b)
	for _, role := range []string{"order", "shipping", "invoicing"} {
		b.Run(role, func(b *testing.B) {
			dbURL := testenv.Database(b, "stack")
			if err := db.Provision(context.Background(), dbURL, db.Roles()...); err != nil {
				b.Fatal(err)
			}
			functionURL, _ := db.WithUser(dbURL, db.Role(role), "")
			var rssKB int64
			b.ResetTimer()
			for i := range b.N {
				addr := fmt.Sprintf("127.0.0.1:%d", 23500+i%100)
				cmd := exec.Command(bin)
				cmd.Env = append(os.Environ(), "FUNCTION="+role, "DATABASE_URL="+functionURL, "LISTEN_ADDRESS="+addr,
					"KAFKA_BROKERS=127.0.0.1:1", "LOG_LEVEL=warn")
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				for !exists("http://" + addr + "/health/readiness") {
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				rssKB += residentKB(cmd.Process.Pid)
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
				b.StartTimer()
			}
			b.ReportMetric(float64(rssKB)/float64(b.N)/1024, "MiB-rss")
		})
	}
}

// residentKB reads the resident set of a process.
func residentKB(pid int) int64 {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0
	}
	st, err := p.Stat()
	if err != nil {
		return 0
	}
	return int64(st.ResidentMemory()) / 1024
}

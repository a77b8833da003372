package interop

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	gostore "github.com/ClusterCockpit/cc-backend/pkg/metricstore"
)

// BenchmarkArchiveGo runs v1.5.4's archive cleanup once on the checkpoint
// directory in CCWAL_ARCHIVE_BENCH_ROOT (written by benches/archive.rs,
// which runs this and prints the ratios) into CCWAL_ARCHIVE_BENCH_OUT
// below the horizon CCWAL_ARCHIVE_BENCH_HORIZON, with two workers; it
// reports the wall time and the process's peak RSS. Skipped without them.
func BenchmarkArchiveGo(b *testing.B) {
	root, out := os.Getenv("CCWAL_ARCHIVE_BENCH_ROOT"), os.Getenv("CCWAL_ARCHIVE_BENCH_OUT")
	var horizon int64
	if _, err := fmt.Sscan(os.Getenv("CCWAL_ARCHIVE_BENCH_HORIZON"), &horizon); root == "" || out == "" || err != nil {
		b.Skip("CCWAL_ARCHIVE_BENCH_ROOT, _OUT and _HORIZON are set by benches/archive.rs")
	}
	gostore.Keys.NumWorkers = 2
	b.ResetTimer()
	started := time.Now()
	files, err := gostore.CleanupCheckpoints(root, out, horizon, false)
	elapsed := time.Since(started)
	if err != nil {
		b.Fatal(err)
	}
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	b.ReportMetric(elapsed.Seconds(), "s")
	b.ReportMetric(float64(usage.Maxrss)/1024, "peakRSS_MiB")
	b.ReportMetric(float64(files), "files")
}

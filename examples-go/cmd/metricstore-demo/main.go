// Command metricstore-demo runs a compact metric store whose persistence
// path is only ccwal: a generator sends InfluxDB line protocol for a cluster
// of hosts, the store writes each sample to memory and then to the WAL,
// syncs and acknowledges regularly, checkpoints with sessions and cleans up
// old snapshots — until it kills itself with SIGKILL mid-stream. Then it
// restarts, restores through ccwal and verifies that every sample
// acknowledged by Sync is back.
//
//	metricstore-demo [-hosts 200] [-metrics 16] [-cpus 4] [-ticks 300] [-root DIR]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ccwal/ccwal/go/ccwal"
)

// childEnv marks the store process (so a test binary can play it too).
const childEnv = "CCWAL_DEMO_CHILD"

const (
	cluster   = "demo"
	frequency = int64(60)
	base      = int64(1_700_000_000)
)

var (
	parseFloat = func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	parseInt   = func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
)

// config is the demo's shape; the child gets it on its command line.
type config struct {
	hosts, metrics, cpus, ticks int
	killAt                      int
	syncEvery, checkpointEvery  int
	keepCheckpoints             int
	root                        string
}

func (c config) hostName(h int) string   { return fmt.Sprintf("node%04d", h) }
func (c config) nodeMetric(m int) string { return fmt.Sprintf("node_metric_%02d", m) }
func (c config) coreMetric(m int) string { return fmt.Sprintf("core_metric_%02d", m) }
func (c config) coreMetrics() int        { return max(c.metrics/4, 1) }
func tickTime(tick int) int64            { return base + int64(tick)*frequency }
func value(h, m, cpu, tick int) float64  { return float64((h*31+m*7+cpu*3+tick)%4096) * 0.25 }
func metricFrequencies(c config) map[string]int64 {
	out := map[string]int64{}
	for m := 0; m < c.metrics; m++ {
		out[c.nodeMetric(m)] = frequency
	}
	for m := 0; m < c.coreMetrics(); m++ {
		out[c.coreMetric(m)] = frequency
	}
	return out
}

// lines is one tick of line protocol, as cc-metric-collector sends it.
func (c config) lines(tick int, emit func(string)) {
	ts := tickTime(tick)
	for h := 0; h < c.hosts; h++ {
		for m := 0; m < c.metrics; m++ {
			emit(fmt.Sprintf("%s,cluster=%s,hostname=%s,type=node value=%g %d", c.nodeMetric(m), cluster, c.hostName(h), value(h, m, -1, tick), ts))
		}
		for cpu := 0; cpu < c.cpus; cpu++ {
			for m := 0; m < c.coreMetrics(); m++ {
				emit(fmt.Sprintf("%s,cluster=%s,hostname=%s,type=cpu,type-id=%d value=%g %d", c.coreMetric(m), cluster, c.hostName(h), cpu, value(h, m, cpu, tick), ts))
			}
		}
	}
}

func (c config) args() []string {
	return []string{"-child", "-hosts", strconv.Itoa(c.hosts), "-metrics", strconv.Itoa(c.metrics), "-cpus", strconv.Itoa(c.cpus),
		"-ticks", strconv.Itoa(c.ticks), "-kill-at", strconv.Itoa(c.killAt), "-root", c.root}
}

func main() {
	os.Exit(mainWith(os.Args[0], os.Args[1:]))
}

// mainWith runs the demo (or, with -child, the store process) and returns
// the exit code.
func mainWith(exe string, args []string) int {
	c := config{syncEvery: 5, checkpointEvery: 30, keepCheckpoints: 4}
	flags := flag.NewFlagSet("metricstore-demo", flag.ContinueOnError)
	child := flags.Bool("child", false, "run as the store process (internal)")
	flags.IntVar(&c.hosts, "hosts", 200, "hosts in the cluster")
	flags.IntVar(&c.metrics, "metrics", 16, "metrics per host (and a quarter of that per CPU)")
	flags.IntVar(&c.cpus, "cpus", 4, "CPUs per host")
	flags.IntVar(&c.ticks, "ticks", 240, "minutes of data to send (the store dies before the end)")
	flags.IntVar(&c.killAt, "kill-at", 0, "minute at which the store kills itself (default: random in the second half)")
	flags.StringVar(&c.root, "root", "", "checkpoint directory (default: a new temporary one)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *child {
		if err := runStore(c); err != nil {
			fmt.Fprintln(os.Stderr, "metricstore-demo (store):", err)
			return 1
		}
		return 0
	}
	if err := run(c, exe); err != nil {
		fmt.Fprintln(os.Stderr, "metricstore-demo:", err)
		return 1
	}
	return 0
}

// run starts the store as a child process that dies by SIGKILL, then
// restores and verifies.
func run(c config, exe string) error {
	if c.root == "" {
		dir, err := os.MkdirTemp("", "metricstore-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.root = dir
	}
	if c.killAt == 0 {
		c.killAt = c.ticks/2 + rand.IntN(max(c.ticks/2, 1))
	}
	perTick := c.hosts * (c.metrics + c.cpus*c.coreMetrics())
	fmt.Printf("store: %d hosts, %d samples per minute of data, killed with SIGKILL at minute %d of %d\n",
		c.hosts, perTick, c.killAt, c.ticks)
	cmd := exec.Command(exe, c.args()...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), childEnv+"=1")
	started := time.Now()
	err := cmd.Run()
	status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !status.Signaled() || status.Signal() != syscall.SIGKILL {
		return fmt.Errorf("the store did not die by SIGKILL: %v", err)
	}
	ingest := time.Since(started)
	log, err := readLog(filepath.Join(c.root, "demo.log"))
	if err != nil {
		return err
	}
	fmt.Printf("store: sent %d samples in %v, %d checkpoints (%v), last acknowledged minute %d\n",
		(c.killAt)*perTick, ingest.Round(time.Millisecond), log.checkpoints, log.checkpointTime.Round(time.Millisecond), log.acked)

	// The restart: restore through ccwal, then check every acknowledged sample.
	started = time.Now()
	restored, err := ccwal.Restore(c.root, log.horizon, metricFrequencies(c), ccwal.RestoreOptions{})
	if err != nil {
		return err
	}
	defer restored.Close()
	restoreTime := time.Since(started)
	verified, missing, err := verify(c, restored, log)
	if err != nil {
		return err
	}
	fmt.Printf("restore: %d hosts in %v; verified %d acknowledged samples, %d missing\n",
		len(restored.Hosts), restoreTime.Round(time.Millisecond), verified, missing)
	if missing > 0 {
		return fmt.Errorf("%d acknowledged samples are missing", missing)
	}
	return nil
}

// storeLog is what the store wrote (and fsynced) before acting on it.
type storeLog struct {
	acked          int   // every sample up to this tick is on disk
	horizon        int64 // snapshots up to this were deleted: verify after it
	checkpoints    int
	checkpointTime time.Duration
}

func readLog(path string) (storeLog, error) {
	out := storeLog{acked: -1, horizon: base - frequency}
	f, err := os.Open(path)
	if err != nil {
		return out, err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) != 2 {
			continue // a line torn by the kill
		}
		n, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "ack":
			out.acked = int(n)
		case "horizon":
			out.horizon = max(out.horizon, n)
		case "checkpoint":
			out.checkpoints++
			out.checkpointTime += time.Duration(n) * time.Microsecond
		}
	}
	return out, scanner.Err()
}

// verify looks up every acknowledged sample at or after the horizon in the
// restored chains.
func verify(c config, restored *ccwal.Restored, log storeLog) (verified, missing int, err error) {
	type key struct{ host, path, metric string }
	chains := map[key][]ccwal.Chunk{}
	for h, host := range restored.Hosts {
		if host.Err != nil {
			return 0, 0, fmt.Errorf("%s: %v", host.Host, host.Err)
		}
		for l := 0; l < host.Levels; l++ {
			path, metrics, err := restored.Level(h, l)
			if err != nil {
				return 0, 0, err
			}
			for m := 0; m < metrics; m++ {
				name, chunks, err := restored.Metric(h, l, m)
				if err != nil {
					return 0, 0, err
				}
				chains[key{host.Host, strings.Join(path, "/"), name}] = chunks
			}
		}
	}
	lookup := func(k key, ts int64) (float64, bool) {
		for _, chunk := range chains[k] {
			if ts < chunk.Start {
				continue
			}
			if i := (ts - chunk.Start) / chunk.Frequency; i < int64(len(chunk.Values)) {
				return chunk.Values[i], true
			}
		}
		return 0, false
	}
	check := func(k key, ts int64, want float64) {
		if got, ok := lookup(k, ts); ok && got == want {
			verified++
		} else {
			missing++
		}
	}
	for tick := 0; tick <= log.acked; tick++ {
		ts := tickTime(tick)
		if ts <= log.horizon {
			continue // in a snapshot the cleanup deleted (retention)
		}
		for h := 0; h < c.hosts; h++ {
			for m := 0; m < c.metrics; m++ {
				check(key{c.hostName(h), "", c.nodeMetric(m)}, ts, value(h, m, -1, tick))
			}
			for cpu := 0; cpu < c.cpus; cpu++ {
				for m := 0; m < c.coreMetrics(); m++ {
					check(key{c.hostName(h), "cpu" + strconv.Itoa(cpu), c.coreMetric(m)}, ts, value(h, m, cpu, tick))
				}
			}
		}
	}
	return verified, missing, nil
}

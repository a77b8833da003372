// Command e2e drives a real cc-backend server binary end to end: it sets up
// a fresh server directory, writes line protocol through /api/write, kills
// the server at chosen points (SIGKILL mid-ingest, right after the last
// 2xx, after a checkpoint over backfilled plus live data; SIGTERM),
// restarts it on the same directory and reads every series back through
// the GraphQL API, counting acknowledged, restored, lost and wrong samples.
// It also measures ingest throughput with 1, 2 and 4 clients and the
// restart time with many hosts and a large WAL. See README.md.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
}

func main() {
	var c Config
	server := flag.String("server", "", "the cc-backend binary to test (required)")
	name := flag.String("name", "", "a label for the tables (default: the binary's directory name)")
	flag.StringVar(&c.WorkDir, "workdir", "", "where server directories go (default target/e2e/NAME, with -short target/e2e/NAME-short)")
	short := flag.Bool("short", false, "the short run (for make test): small sizes, a 10s checkpoint interval for the checkpoint scenario")
	expect := flag.Bool("expect-no-loss", false, "fail unless every scenario has 0 lost and 0 wrong samples, no failed requests and no dropped WAL messages")
	only := flag.String("only", "", "comma-separated subset: kill-mid,kill-ack,checkpoint,sigterm,switch,diskfull,throughput,restart (default all)")
	stock := flag.String("stock", "", "the published cc-backend binary: with it, the switching scenarios run (-server then must be the one with ccwal inside)")
	flag.StringVar(&c.CcwalTool, "ccwal", "", "the ccwal tool, which the switch after SIGKILL runs (`ccwal compact`) before the stock server starts (required with -stock)")
	flag.IntVar(&c.Nodes, "nodes", 50, "nodes of the cluster (and per throughput client)")
	flag.IntVar(&c.HWThreads, "hwthreads", 2, "hardware threads per node (3 hwthread metrics each; 5 node metrics)")
	flag.StringVar(&c.CheckpointInterval, "checkpoint-interval", "1m", "metric-store checkpoint-interval of the scenarios")
	flag.StringVar(&c.BackfillInterval, "backfill-checkpoint-interval", "", "checkpoint-interval of the checkpoint scenario (default: -checkpoint-interval; -short: 10s)")
	flag.StringVar(&c.Retention, "retention", "336h", "metric-store retention-in-memory (must cover the backfilled time range: up to 16384 steps of 60s)")
	flag.DurationVar(&c.MidIngest, "mid-ingest", 0, "kill-mid-ingest: ingest time before SIGKILL (default 20s; -short 2s)")
	flag.Float64Var(&c.MidRate, "mid-rate", 20, "kill-mid-ingest: steps per second (one step = one sample of every series)")
	flag.IntVar(&c.Steps, "steps", 0, "steps written in the other scenarios (default 300; -short 30)")
	flag.DurationVar(&c.Settle, "settle", 2*time.Second, "wait after the last write or a checkpoint's log line before a kill where the scenario says so")
	flag.DurationVar(&c.ThroughputFor, "throughput-for", 0, "ingest time per throughput measurement (default 15s; -short 3s)")
	clients := flag.String("clients", "", "client counts of the throughput measurement (default 1,2,4,8; -short 1,2,4)")
	flag.IntVar(&c.RestartHosts, "restart-hosts", 0, "hosts of the restart measurement (default 2000; -short 100)")
	flag.IntVar(&c.RestartMB, "restart-mb", 0, "WAL size of the restart measurement in MiB (default 300; -short 4)")
	flag.BoolVar(&c.RestartVerify, "restart-verify", true, "read every series back after the restart measurement too")
	flag.DurationVar(&c.StartTimeout, "start-timeout", 10*time.Minute, "how long a server may take to answer after its start")
	flag.Int64Var(&c.Seed, "seed", 0, "seed of the random kill points (default: from the clock; printed)")
	timeout := flag.Duration("timeout", 60*time.Minute, "the whole run's limit (servers are killed and the run fails past it; a soak gets its duration plus this)")
	soak := flag.Duration("soak", 0, "run only the soak for this long: restarts (SIGKILL, SIGTERM) at random points, disk-full windows, checkpoints and archive cleanup, every acknowledged sample checked at each restart")
	flag.Parse()

	if *server == "" {
		fmt.Fprintln(os.Stderr, "usage: e2e -server PATH/cc-backend [-short] [-expect-no-loss] [flags]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	bin, err := filepath.Abs(*server)
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: server binary: %v\n", err)
		os.Exit(2)
	}
	c.Bin = bin
	c.ExpectNoLoss = *expect
	if *stock != "" {
		if c.Stock, err = filepath.Abs(*stock); err != nil || c.CcwalTool == "" {
			fmt.Fprintln(os.Stderr, "e2e: -stock needs a path and -ccwal")
			os.Exit(2)
		}
		if c.CcwalTool, err = filepath.Abs(c.CcwalTool); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(2)
		}
	}
	if c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
	c.rng = rand.New(rand.NewSource(c.Seed))
	logf("seed %d", c.Seed)
	if *name == "" {
		*name = filepath.Base(filepath.Dir(bin))
	}
	def := func(d *time.Duration, full, shortV time.Duration) {
		if *d == 0 {
			*d = full
			if *short {
				*d = shortV
			}
		}
	}
	defInt := func(v *int, full, shortV int) {
		if *v == 0 {
			*v = full
			if *short {
				*v = shortV
			}
		}
	}
	def(&c.MidIngest, 20*time.Second, 2*time.Second)
	def(&c.ThroughputFor, 15*time.Second, 3*time.Second)
	defInt(&c.Steps, 300, 30)
	defInt(&c.RestartHosts, 2000, 100)
	defInt(&c.RestartMB, 300, 4)
	if c.BackfillInterval == "" {
		c.BackfillInterval = c.CheckpointInterval
		if *short {
			c.BackfillInterval = "10s"
		}
	}
	if c.Steps >= kMod-100 {
		fmt.Fprintf(os.Stderr, "e2e: -steps must be below %d\n", kMod-100)
		os.Exit(2)
	}
	if c.WorkDir == "" {
		dir := *name
		if *short {
			dir += "-short"
		}
		c.WorkDir = filepath.Join("target", "e2e", dir)
	}
	if c.WorkDir, err = filepath.Abs(c.WorkDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	if *clients == "" {
		*clients = "1,2,4,8"
		if *short {
			*clients = "1,2,4"
		}
	}
	var clientCounts []int
	for _, f := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 64 {
			fmt.Fprintf(os.Stderr, "e2e: bad -clients %q\n", *clients)
			os.Exit(2)
		}
		clientCounts = append(clientCounts, n)
	}
	want := map[string]bool{}
	for _, f := range strings.Split(*only, ",") {
		if f = strings.TrimSpace(f); f != "" {
			want[f] = true
		}
	}
	run := func(s string) bool { return len(want) == 0 || want[s] }

	// Whatever happens, no server outlives the harness.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		logf("%v: killing the servers", s)
		killAll()
		os.Exit(130)
	}()
	time.AfterFunc(*timeout+*soak, func() {
		logf("run exceeded -timeout %v: killing the servers", *timeout)
		killAll()
		os.Exit(3)
	})
	defer killAll()

	if *soak > 0 {
		cycles, err := c.Soak(*soak)
		fmt.Print(SoakMarkdown(cycles))
		if b, jerr := json.MarshalIndent(cycles, "", "  "); jerr == nil {
			_ = os.WriteFile(filepath.Join(c.WorkDir, "soak.json"), append(b, '\n'), 0o644)
		}
		if err == nil {
			err = SoakGrowth(cycles, SoakRetention)
		}
		killAll()
		if err != nil {
			logf("soak: %v", err)
			os.Exit(1)
		}
		return
	}

	res := Results{Server: bin, Name: *name, Short: *short, Started: time.Now().UTC().Format(time.RFC3339), Config: c}
	failed := false
	fail := func(what string, err error) {
		logf("%s: %v", what, err)
		res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", what, err))
		failed = true
	}
	type scenario struct {
		key string
		f   func() (Row, error)
	}
	scen := []scenario{
		{"kill-mid", c.KillMidIngest},
		{"kill-ack", c.KillAfterAck},
		{"checkpoint", c.CheckpointBackfill},
		{"sigterm", func() (Row, error) { return c.Sigterm(false) }},
		{"sigterm", func() (Row, error) { return c.Sigterm(true) }},
		{"diskfull", c.DiskFull},
	}
	if c.Stock != "" {
		scen = append(scen,
			scenario{"switch", c.SwitchAfterSigterm},
			scenario{"switch", c.SwitchAfterSigkill},
			scenario{"switch", c.SwitchFromStock})
	}
	for _, sc := range scen {
		if !run(sc.key) {
			continue
		}
		t0 := time.Now()
		row, err := sc.f()
		var skipped errSkipped
		if errors.As(err, &skipped) {
			logf("*** %s %v ***", row.Scenario, err)
			continue
		}
		logf("%s: %d acknowledged, %d restored, %d lost, %d wrong (%.1fs)", row.Scenario, row.Acked, row.Restored, row.Lost, row.Wrong, time.Since(t0).Seconds())
		if err != nil {
			fail(row.Scenario, err)
			continue
		}
		res.Loss = append(res.Loss, row)
	}
	if run("throughput") {
		for _, n := range clientCounts {
			row, err := c.Throughput(n)
			logf("throughput, %d clients: %.0f samples/s, %d errors, WAL drops %d, %d lost after SIGKILL", n, row.PerSecond, row.Errors, row.WALDrops, row.LostAfterKill)
			if err != nil {
				fail(fmt.Sprintf("throughput with %d clients", n), err)
				continue
			}
			res.Throughput = append(res.Throughput, row)
		}
	}
	if run("restart") {
		row, err := c.Restart()
		logf("restart: %d hosts, %.0f MiB, ready after %.2fs", row.Hosts, row.DiskMB, row.ReadySeconds)
		if err != nil {
			fail("restart", err)
		} else {
			res.Restart = &row
		}
	}
	res.Finished = time.Now().UTC().Format(time.RFC3339)

	if *expect {
		for _, r := range res.Loss {
			if r.Lost != 0 || r.Wrong != 0 || r.Acked == 0 {
				fail("expect-no-loss", fmt.Errorf("%s: %d acknowledged, %d lost, %d wrong", r.Scenario, r.Acked, r.Lost, r.Wrong))
			}
		}
		for _, r := range res.Throughput {
			if r.Errors != 0 || r.WALDrops > 0 || r.LostAfterKill != 0 || r.WrongAfter != 0 {
				fail("expect-no-loss", fmt.Errorf("throughput with %d clients: %d errors, %d WAL drops, %d lost, %d wrong", r.Clients, r.Errors, r.WALDrops, r.LostAfterKill, r.WrongAfter))
			}
		}
		if r := res.Restart; r != nil && (r.Lost != 0 || r.Wrong != 0 || r.WALDrops > 0) {
			fail("expect-no-loss", fmt.Errorf("restart: %d lost, %d wrong, %d WAL drops", r.Lost, r.Wrong, r.WALDrops))
		}
	}

	fmt.Print(res.Markdown())
	if b, err := json.MarshalIndent(res, "", "  "); err == nil {
		path := filepath.Join(c.WorkDir, "results.json")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err == nil {
			logf("results: %s", path)
		}
	}
	killAll()
	if failed {
		os.Exit(1)
	}
}

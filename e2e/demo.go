package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// `e2e demo` (make cc-backend-demo) runs a server on a demo cluster in the
// foreground: a fresh server directory, some hours of data ending now,
// then one sample of every series per timestep until Ctrl-C, which stops
// the server cleanly (SIGTERM).
func demoMain(args []string) int {
	fs := flag.NewFlagSet("e2e demo", flag.ExitOnError)
	server := fs.String("server", "", "the cc-backend binary (required)")
	dir := fs.String("dir", filepath.Join("target", "cc-backend-demo"), "the server directory (recreated)")
	addr := fs.String("addr", "127.0.0.1:8080", "where the server listens")
	nodes := fs.Int("nodes", 8, "nodes of the demo cluster")
	hours := fs.Float64("hours", 6, "hours of data written before the live samples")
	_ = fs.Parse(args)
	if *server == "" {
		fmt.Fprintln(os.Stderr, "usage: e2e demo -server PATH/cc-backend [-addr HOST:PORT]")
		return 2
	}
	bin, err := filepath.Abs(*server)
	if err == nil {
		*dir, err = filepath.Abs(*dir)
	}
	if err != nil {
		logf("%v", err)
		return 2
	}
	// A server already listening there would answer the start-up probe.
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		logf("%s is not free (DEMO_ADDR=HOST:PORT picks another): %v", *addr, err)
		return 2
	}
	l.Close()
	layout := NewLayout("demo", "node", *nodes, 2)
	s, err := NewServer(bin, *dir, layout, "1h", "48h")
	if err == nil {
		// NewServer took a free port; the demo has a fixed address.
		s.Addr = *addr
		err = writeJSON(filepath.Join(s.Dir, "config.json"), s.config())
	}
	if err == nil {
		_, err = s.Start("demo", 5*time.Minute)
	}
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer killAll()
	w := NewWriter(s, nil)
	steps := int(*hours * 3600 / float64(layout.Timestep))
	base := time.Now().Unix() - int64(steps)*layout.Timestep
	if failed := Backfill(w, 0, steps, base, 0, 2, 0, nil); failed > 0 {
		logf("%d writes failed: %s", failed, w.LastErr())
		return 1
	}
	fmt.Printf(`
cc-backend (%s) runs on a demo cluster %q of %d nodes with %.0f hours of data,
and gets one sample of every series each %d s.

  open      http://%s/monitoring/node/%s/%s   (log in as %q, password %q)
  data      %s   (log: %s)
  stop      Ctrl-C (SIGTERM: the server writes its checkpoint and exits)

`, bin, layout.Cluster, *nodes, *hours, layout.Timestep, s.Addr, layout.Cluster, layout.Host(0), uiUser, uiPassword, s.CheckpointDir(), s.logPath)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	tick := time.NewTicker(time.Duration(layout.Timestep) * time.Second)
	defer tick.Stop()
	for k := steps; ; k++ {
		select {
		case <-sigs:
			logf("stopping the server (SIGTERM)")
			if !s.Term(5 * time.Minute) {
				logf("the server did not stop within 5 minutes: SIGKILLed")
				return 1
			}
			return 0
		case <-s.done:
			logf("the server exited: %v (log: %s)", s.exitErr, s.logPath)
			return 1
		case <-tick.C:
			Backfill(w, k, k+1, time.Now().Unix()-int64(k)*layout.Timestep, 0, 1, 0, nil)
		}
	}
}

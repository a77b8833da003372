package main

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The demo starts its store as a child process of the same binary.
	if os.Getenv(childEnv) == "1" {
		os.Exit(mainWith(os.Args[0], os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestKilledStoreLosesNoAcknowledgedSample(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := config{hosts: 8, metrics: 4, cpus: 2, ticks: 100, killAt: 77, syncEvery: 5, checkpointEvery: 20,
		keepCheckpoints: 2, root: t.TempDir()}
	if testing.Short() {
		c.hosts, c.ticks, c.killAt = 3, 60, 47
	}
	if err := run(c, exe); err != nil {
		t.Fatal(err)
	}
}

func TestParseLineFormsTheSelectorAsCcBackend(t *testing.T) {
	metric, cluster, host, selector, value, ts, ok := parseLine("flops,cluster=c,hostname=h,type=cpu,type-id=3 value=1.5 1700000000")
	if !ok || metric != "flops" || cluster != "c" || host != "h" || len(selector) != 1 || selector[0] != "cpu3" ||
		value != 1.5 || ts != 1700000000 {
		t.Fatalf("%s %s %s %v %v %d %v", metric, cluster, host, selector, value, ts, ok)
	}
	if _, _, _, selector, _, _, _ = parseLine("load,cluster=c,hostname=h,type=node value=1 1"); selector != nil {
		t.Fatalf("type=node adds nothing: %v", selector)
	}
	if _, _, _, _, _, _, ok = parseLine("garbage"); ok {
		t.Fatal("garbage parsed")
	}
}

package main

import (
	"fmt"
	"strings"
)

// Results is everything a run measured (also written as results.json).
type Results struct {
	Server     string          `json:"server"`
	Name       string          `json:"name"`
	Short      bool            `json:"short"`
	Started    string          `json:"started"`
	Finished   string          `json:"finished"`
	Config     Config          `json:"config"`
	Loss       []Row           `json:"loss"`
	Throughput []ThroughputRow `json:"throughput"`
	Restart    *RestartRow     `json:"restart,omitempty"`
	Errors     []string        `json:"errors,omitempty"`
}

func (r *Results) Markdown() string {
	var b strings.Builder
	c := r.Config
	mode := "full"
	if r.Short {
		mode = "short"
	}
	fmt.Fprintf(&b, "\n## %s (%s run): %s\n\n", r.Name, mode, r.Server)
	fmt.Fprintf(&b, "One cluster of %d nodes, 5 node metrics and 3 hwthread metrics x %d hwthreads (%d series), timestep 60 s, file-format wal, checkpoint-interval %s (checkpoint scenario: %s).\n\n",
		c.Nodes, c.HWThreads, c.Nodes*(5+3*c.HWThreads), c.CheckpointInterval, c.BackfillInterval)
	if len(r.Loss) > 0 {
		b.WriteString("| scenario | acknowledged | restored | lost | wrong | restart (s) | note |\n")
		b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, x := range r.Loss {
			note := x.Note
			if x.Unacked > 0 {
				note = join(note, fmt.Sprintf("%d unacknowledged samples also restored", x.Unacked))
			}
			if x.Missing > 0 {
				note = join(note, fmt.Sprintf("%d series absent", x.Missing))
			}
			if x.QueryErrors > 0 {
				note = join(note, fmt.Sprintf("%d query errors", x.QueryErrors))
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %.2f | %s |\n", x.Scenario, x.Acked, x.Restored, x.Lost, x.Wrong, x.Restart.Seconds(), note)
		}
		b.WriteString("\n")
	}
	if len(r.Throughput) > 0 {
		fmt.Fprintf(&b, "Ingest through /api/write, each client its own %d nodes, one request = one sample of each of its %d series, for %s:\n\n", c.Nodes, c.Nodes*(5+3*c.HWThreads), c.ThroughputFor)
		b.WriteString("| clients | requests | accepted samples/s | server CPU ns per accepted sample | failed requests | WAL messages dropped (logged) | lost after SIGKILL | wrong |\n")
		b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, x := range r.Throughput {
			drops := "0"
			if x.WALDrops > 0 {
				drops = fmt.Sprintf(">= %d", x.WALDrops)
			}
			fmt.Fprintf(&b, "| %d | %d | %.0f | %.0f | %d | %s | %d of %d | %d |\n", x.Clients, x.Requests, x.PerSecond, x.ServerCPUNsPerSample, x.Errors, drops, x.LostAfterKill, x.Accepted, x.WrongAfter)
		}
		b.WriteString("\n")
	}
	if x := r.Restart; x != nil {
		b.WriteString("| restart: hosts | series | samples | on disk (MiB) | files | ingest (s) | WAL messages dropped (logged) | exec to first 2xx (s) | server's \"Checkpoints loaded\" (s) | peak RSS at first 2xx (MiB) | lost | wrong |\n")
		b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		lost, wrong := "-", "-"
		if c.RestartVerify {
			lost, wrong = fmt.Sprint(x.Lost), fmt.Sprint(x.Wrong)
		}
		srv := "-"
		if x.ServerSeconds >= 0 {
			srv = fmt.Sprintf("%.2f", x.ServerSeconds)
		}
		drops := "0"
		if x.WALDrops > 0 {
			drops = fmt.Sprintf(">= %d", x.WALDrops)
		}
		fmt.Fprintf(&b, "| %d | %d | %d | %.0f | %d | %.0f | %s | %.2f | %s | %.0f | %s | %s |\n", x.Hosts, x.Series, x.Samples, x.DiskMB, x.Files, x.IngestSeconds, drops, x.ReadySeconds, srv, x.PeakRSSMiB, lost, wrong)
		b.WriteString("\n")
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "ERROR: %s\n", e)
	}
	return b.String()
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + "; " + b
}

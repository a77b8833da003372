// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's pkg/metricstore at build time (scripts/ccbackend-build.sh).

package metricstore

import (
	"fmt"
	"time"

	"github.com/ccwal/ccwal/go/ccwal"
)

// Checkpoints configures the persistence of the in-memory metric data
// (the "checkpoints" object of the metric-store configuration).
//
//   - FileFormat: "wal" (default: binary snapshots plus a write-ahead log,
//     both written by ccwal) or "json" (periodic JSON snapshots only).
//   - RootDir: the directory of snapshots and WAL files.
//   - MaxWALSize: accepted for compatibility and not applied: deleting a
//     host's WAL at a size would delete acknowledged samples. Checkpoints
//     bound the WAL instead.
//   - Durability: when POST /api/write answers. "flush" (default): after
//     its samples are handed to the operating system (they survive a crash
//     of the server); "sync": after they are on stable storage (they
//     survive a power loss). Concurrent requests share one flush or sync.
//   - SyncInterval: how often the WAL is fdatasynced in the background
//     (Go duration, default "1s"; "0s": only at checkpoints and shutdown).
type Checkpoints struct {
	FileFormat   string `json:"file-format"`
	RootDir      string `json:"directory"`
	MaxWALSize   int64  `json:"max-wal-size,omitempty"`
	Durability   string `json:"durability,omitempty"`
	SyncInterval string `json:"sync-interval,omitempty"`
}

// The defaults of the new settings.
const (
	DefaultWALDurability   = "flush"
	DefaultWALSyncInterval = time.Second
)

// walSettings reads Durability and SyncInterval: whether a write waits for
// a sync (else a flush), and the engine's background durability.
func walSettings() (syncOnCommit bool, mode ccwal.Durability, interval time.Duration, err error) {
	switch Keys.Checkpoints.Durability {
	case "", "flush":
	case "sync":
		syncOnCommit = true
	default:
		return false, 0, 0, fmt.Errorf("checkpoints.durability %q: expected \"flush\" or \"sync\"", Keys.Checkpoints.Durability)
	}
	interval = DefaultWALSyncInterval
	if s := Keys.Checkpoints.SyncInterval; s != "" {
		if interval, err = time.ParseDuration(s); err != nil || interval < 0 {
			return false, 0, 0, fmt.Errorf("checkpoints.sync-interval %q: expected a duration like \"1s\"", s)
		}
	}
	mode = ccwal.DurabilityInterval
	if interval == 0 {
		mode = ccwal.DurabilityNone
	} else if interval < time.Millisecond {
		interval = time.Millisecond
	}
	return syncOnCommit, mode, interval, nil
}

// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's pkg/metricstore at build time (scripts/ccbackend-build.sh).

package metricstore

import (
	"fmt"

	"github.com/ccwal/ccwal/go/ccwal"
)

// CleanupCheckpoints deletes (or, deleteInstead false, archives to Parquet
// under cleanupDir) the snapshot files numbered at or below `from`, and, in
// both modes, drops the WAL records a checkpoint kept (outside its window)
// once they are older than `from`. Returns the number of files deleted or
// archived.
func CleanupCheckpoints(checkpointsDir, cleanupDir string, from int64, deleteInstead bool) (int, error) {
	n := 0
	if !deleteInstead {
		archived, err := archiveCheckpoints(checkpointsDir, cleanupDir, from)
		if err != nil {
			return archived, err
		}
		n = archived
	}
	deleted, problems, err := ccwal.Cleanup(checkpointsDir, from)
	if deleteInstead {
		n = deleted
	}
	if err != nil {
		return n, err
	}
	if problems > 0 {
		return n, fmt.Errorf("[METRICSTORE]> %d checkpoint files could not be cleaned up", problems)
	}
	return n, nil
}

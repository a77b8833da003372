// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's internal/api at build time (scripts/ccbackend-build.sh).

package api

import (
	"errors"
	"net/http"

	"github.com/ClusterCockpit/cc-backend/pkg/metricstore"
	cclog "github.com/ClusterCockpit/cc-lib/v2/ccLogger"
	"github.com/ClusterCockpit/cc-line-protocol/v2/lineprotocol"
)

// writeMetrics is POST /api/write: line protocol into the metric store.
// It answers 200 only once every sample of the request is in memory and in
// the write-ahead log (flushed to the OS, or synced with
// checkpoints.durability "sync"); concurrent requests share one flush. 400
// for a malformed body (the lines before the error are written), 500 when
// the WAL could not take or persist the samples.
func writeMetrics(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Add("Content-Type", "application/json")

	cluster := queryParam(r.URL.RawQuery, "cluster")

	ms := metricstore.GetMemoryStore()
	dec := lineprotocol.NewDecoder(r.Body)
	if err := metricstore.DecodeLine(dec, ms, cluster); err != nil {
		cclog.Errorf("/api/write error: %s", err.Error())
		status := http.StatusBadRequest
		if errors.Is(err, metricstore.ErrWALWrite) {
			status = http.StatusInternalServerError
		}
		handleError(err, status, rw)
		return
	}
	// Group commit: the answer waits for the WAL flush (or sync) that
	// covers this request's samples, shared with concurrent requests.
	if err := metricstore.WALCommit(); err != nil {
		cclog.Errorf("/api/write error: %s", err.Error())
		handleError(err, http.StatusInternalServerError, rw)
		return
	}
	rw.WriteHeader(http.StatusOK)
}

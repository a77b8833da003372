// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's internal/api at build time (scripts/ccbackend-build.sh).

package api

import (
	"bytes"
	"errors"
	"net/http"
	"sync"

	"github.com/ClusterCockpit/cc-backend/pkg/metricstore"
	cclog "github.com/ClusterCockpit/cc-lib/v2/ccLogger"
)

// writeMetrics is POST /api/write: line protocol into the metric store.
// The body is read whole, then decoded (metricstore.DecodeLineBytes).
// It answers 200 only once every sample of the request is in memory and in
// the write-ahead log (flushed to the OS, or synced with
// checkpoints.durability "sync"); concurrent requests share one flush. 400
// for a malformed body (the lines before the error are written), 500 when
// the WAL could not take or persist the samples.
func writeMetrics(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Add("Content-Type", "application/json")

	cluster := queryParam(r.URL.RawQuery, "cluster")

	ms := metricstore.GetMemoryStore()
	body, err := readBody(r)
	if err != nil {
		cclog.Errorf("/api/write error: %s", err.Error())
		handleError(err, http.StatusBadRequest, rw)
		return
	}
	defer releaseBody(body)
	if err := metricstore.DecodeLineBytes(body.Bytes(), ms, cluster); err != nil {
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

// requestBodies recycles the buffers request bodies are read into; one
// that grew past maxPooledBody is left to the garbage collector.
var requestBodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 4 << 20

// readBody reads the whole request body (the decoder then works on it in
// one pass). A read error (a client gone mid-body) is the request's error:
// none of its lines were written.
func readBody(r *http.Request) (*bytes.Buffer, error) {
	body := requestBodies.Get().(*bytes.Buffer)
	body.Reset()
	if _, err := body.ReadFrom(r.Body); err != nil {
		releaseBody(body)
		return nil, err
	}
	return body, nil
}

func releaseBody(body *bytes.Buffer) {
	if body.Cap() <= maxPooledBody {
		requestBodies.Put(body)
	}
}

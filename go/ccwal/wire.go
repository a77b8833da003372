package ccwal

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// The flat layouts the C ABI takes besides the batch (see Batch.Add). The
// library's Rust code defines them; tests/wire in the ccwal repository
// holds golden bytes that both sides are tested against (wire_test.go).
// A length that does not fit its field is refused, never truncated.

// hostList encodes hosts for ccwal_store_rotate: per host u16 cluster
// length, u16 host length, cluster, host (little-endian).
func hostList(hosts []Host) ([]byte, error) {
	var list []byte
	for _, h := range hosts {
		if err := fitsLength("cluster", h.Cluster, math.MaxUint16); err != nil {
			return nil, err
		}
		if err := fitsLength("host", h.Host, math.MaxUint16); err != nil {
			return nil, err
		}
		list = binary.LittleEndian.AppendUint16(list, uint16(len(h.Cluster)))
		list = binary.LittleEndian.AppendUint16(list, uint16(len(h.Host)))
		list = append(list, h.Cluster...)
		list = append(list, h.Host...)
	}
	return list, nil
}

// metricConfig encodes the metric configuration for ccwal_restore, sorted
// by name: per metric u16 name length, name, i64 frequency (little-endian).
func metricConfig(metrics map[string]int64) ([]byte, error) {
	names := make([]string, 0, len(metrics))
	for name := range metrics {
		if err := fitsLength("metric name", name, math.MaxUint16); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var config []byte
	for _, name := range names {
		config = binary.LittleEndian.AppendUint16(config, uint16(len(name)))
		config = append(config, name...)
		config = binary.LittleEndian.AppendUint64(config, uint64(metrics[name]))
	}
	return config, nil
}

// fitsLength refuses, with ErrInvalidName and the library's message, a
// name longer than max bytes.
func fitsLength(field, name string, max int) error {
	if len(name) <= max {
		return nil
	}
	return &Error{Code: CodeInvalidName, Message: fmt.Sprintf("%s is %d bytes long, at most %d fit", field, len(name), max)}
}

// Package interop proves ccwal byte- and state-compatible with the Go
// metricstore of cc-backend v1.5.4, driving only its exported API: the Go
// code writes WAL and snapshots that ccwal restores to the same state, and
// ccwal writes files that the Go code restores to the same state. Its
// benchmarks run both persistence paths side by side.
package interop

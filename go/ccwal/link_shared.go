//go:build ccwal_shared

package ccwal

// With -tags ccwal_shared: links libccwal.so through ccwal-shared.pc, which
// also records the library directory as the binary's run path.

// #cgo pkg-config: ccwal-shared
import "C"

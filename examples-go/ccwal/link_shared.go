//go:build ccwal_shared

package ccwal

// #cgo LDFLAGS: -L${SRCDIR}/../../target/release -Wl,-rpath,${SRCDIR}/../../target/release -lccwal
import "C"

//go:build !ccwal_shared

package ccwal

// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libccwal.a -ldl -lm -lpthread
import "C"

//go:build !ccwal_shared

package ccwal

// Links libccwal.a through the installed ccwal.pc (make install
// PREFIX=..., then PKG_CONFIG_PATH=PREFIX/lib/pkgconfig): the binary needs
// no libccwal at run time.

// #cgo pkg-config: ccwal
import "C"

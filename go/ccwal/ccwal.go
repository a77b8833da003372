// Package ccwal is the Go binding of libccwal: the write-ahead log, binary
// snapshots and restore of ClusterCockpit's metricstore, implemented in Rust
// behind a C ABI.
//
// The package finds libccwal through pkg-config: install it first (`make
// install PREFIX=/some/prefix` in the ccwal repository) and point
// PKG_CONFIG_PATH at PREFIX/lib/pkgconfig. It links the static library by
// default (ccwal.pc), so a Go binary stays one self-contained file; build
// with the tag `ccwal_shared` to link the shared one (ccwal-shared.pc). The
// package imports nothing but the standard library.
//
// Every function is safe for concurrent use unless its documentation says
// otherwise. No Go pointer is kept by C: strings and batches are passed for
// the duration of one call only, which is what the cgo pointer rules allow.
package ccwal

/*
#include <stdlib.h>
#include "ccwal.h"
*/
import "C"

import (
	"fmt"
	"syscall"
	"unsafe"
)

// Version is the version of the linked libccwal.
func Version() string {
	return C.GoString(C.ccwal_version())
}

// HeaderVersion is the version of the ccwal.h this package was compiled
// with; it differs from Version when the header and library do not match.
func HeaderVersion() string {
	return fmt.Sprintf("%d.%d.%d", C.CCWAL_VERSION_MAJOR, C.CCWAL_VERSION_MINOR, C.CCWAL_VERSION_PATCH)
}

// Code is a ccwal result code (ccwal_result in C).
type Code int

// The result codes; their values are those of ccwal.h.
const (
	CodeOK              Code = C.CCWAL_OK
	CodeNullArgument    Code = C.CCWAL_NULL_ARGUMENT
	CodeInvalidName     Code = C.CCWAL_INVALID_NAME
	CodeInvalidArgument Code = C.CCWAL_INVALID_ARGUMENT
	CodeQueueFull       Code = C.CCWAL_QUEUE_FULL
	CodeTimeout         Code = C.CCWAL_TIMEOUT
	CodeClosed          Code = C.CCWAL_CLOSED
	CodeIO              Code = C.CCWAL_IO
	CodeCorrupt         Code = C.CCWAL_CORRUPT
	CodePanic           Code = C.CCWAL_PANIC
	CodeFormat          Code = C.CCWAL_FORMAT
)

// String is the library's description of the code.
func (c Code) String() string {
	return C.GoString(C.ccwal_result_description(C.ccwal_result(c)))
}

// Error is a failed ccwal call: its code, the library's message, the file
// concerned and, for I/O errors, the OS error number. Compare codes with
// errors.Is against the sentinel errors (ErrQueueFull, ErrClosed, ...) or
// read Code directly; the OS error unwraps to a syscall.Errno, so
// errors.Is(err, syscall.ENOSPC) and errors.Is(err, fs.ErrPermission) work
// too.
type Error struct {
	// Code is the result code of the failed call; never CodeOK.
	Code Code
	// Message is the library's message naming what was affected, or the
	// code's description when the call gave no detail; empty only in the
	// sentinel errors.
	Message string
	// Errno is the OS error number (errno) behind an I/O error; 0 when
	// there is none.
	Errno int
	// Path is the file or directory the error is about; empty when it
	// concerns no one file.
	Path string
}

// Error returns the message prefixed with "ccwal: ".
func (e *Error) Error() string {
	return "ccwal: " + e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ccwal.ErrQueueFull) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == ""
}

// Unwrap returns the OS error behind an I/O error as a syscall.Errno, nil
// when there is none.
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return syscall.Errno(e.Errno)
}

// Sentinels for errors.Is.
var (
	ErrNullArgument    = &Error{Code: CodeNullArgument}
	ErrInvalidName     = &Error{Code: CodeInvalidName}
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument}
	ErrQueueFull       = &Error{Code: CodeQueueFull}
	ErrTimeout         = &Error{Code: CodeTimeout}
	ErrClosed          = &Error{Code: CodeClosed}
	ErrIO              = &Error{Code: CodeIO}
	ErrCorrupt         = &Error{Code: CodeCorrupt}
	ErrPanic           = &Error{Code: CodePanic}
	ErrFormat          = &Error{Code: CodeFormat}
)

// toError turns a result code and the error object a call handed out into a
// Go error, freeing the object. nil for CCWAL_OK.
func toError(rc C.ccwal_result, detail *C.ccwal_error) error {
	if rc == C.CCWAL_OK {
		return nil
	}
	err := &Error{Code: Code(rc), Message: Code(rc).String()}
	if detail != nil {
		var msg *C.uint8_t
		var n C.size_t
		if C.ccwal_error_message(detail, &msg, &n) == C.CCWAL_OK {
			err.Message = C.GoStringN((*C.char)(unsafe.Pointer(msg)), C.int(n))
		}
		var path *C.uint8_t
		if C.ccwal_error_path(detail, &path, &n) == C.CCWAL_OK && n > 0 {
			err.Path = C.GoStringN((*C.char)(unsafe.Pointer(path)), C.int(n))
		}
		err.Errno = int(C.ccwal_error_os_code(detail))
		C.ccwal_error_free(detail)
	}
	return err
}

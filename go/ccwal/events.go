package ccwal

/*
#include <stdint.h>
#include "ccwal.h"

// Implemented in Go (exports.go).
extern void ccwalGoEvent(uintptr_t handle, int level, uint8_t *cluster, size_t cluster_len,
                         uint8_t *host, size_t host_len, uint8_t *message, size_t message_len);

static void ccwal_go_event_trampoline(void *user_data, ccwal_event_level level,
                                      const uint8_t *cluster, size_t cluster_len,
                                      const uint8_t *host, size_t host_len,
                                      const uint8_t *message, size_t message_len) {
  ccwalGoEvent((uintptr_t)user_data, (int)level, (uint8_t *)cluster, cluster_len,
               (uint8_t *)host, host_len, (uint8_t *)message, message_len);
}

static ccwal_result ccwal_go_set_event_hook(ccwal_options *options, uintptr_t handle,
                                            ccwal_error **error_out) {
  return ccwal_options_set_event_hook(options, ccwal_go_event_trampoline, (void *)handle, error_out);
}
*/
import "C"

import "runtime/cgo"

// EventLevel is how serious an Event is.
type EventLevel int

// The event levels; their values are those of ccwal.h.
const (
	// EventInfo is informational: a rotation, a repaired torn tail.
	EventInfo EventLevel = iota
	// EventWarning is something that went wrong and was handled.
	EventWarning
	// EventError means records could not be written.
	EventError
)

// Event is something the engine did or that went wrong for one host.
type Event struct {
	// Level is how serious it is.
	Level EventLevel
	// Cluster and Host name the host concerned.
	Cluster, Host string
	// Message says what happened.
	Message string
}

// eventHook keeps the Go callback reachable from C through a cgo.Handle
// (an integer, so no Go pointer is stored in C memory).
type eventHook struct {
	handle cgo.Handle
}

func newEventHook(f func(Event)) *eventHook {
	return &eventHook{handle: cgo.NewHandle(f)}
}

func (h *eventHook) install(options *C.ccwal_options, errOut **C.ccwal_error) C.ccwal_result {
	return C.ccwal_go_set_event_hook(options, C.uintptr_t(h.handle), errOut)
}

func (h *eventHook) release() {
	h.handle.Delete()
}

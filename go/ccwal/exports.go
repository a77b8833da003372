package ccwal

/*
#include <stdint.h>
#include <stddef.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export ccwalGoEvent
func ccwalGoEvent(handle C.uintptr_t, level C.int, cluster *C.uint8_t, clusterLen C.size_t,
	host *C.uint8_t, hostLen C.size_t, message *C.uint8_t, messageLen C.size_t) {
	f := cgo.Handle(handle).Value().(func(Event))
	f(Event{
		Level:   EventLevel(level),
		Cluster: C.GoStringN((*C.char)(unsafe.Pointer(cluster)), C.int(clusterLen)),
		Host:    C.GoStringN((*C.char)(unsafe.Pointer(host)), C.int(hostLen)),
		Message: C.GoStringN((*C.char)(unsafe.Pointer(message)), C.int(messageLen)),
	})
}

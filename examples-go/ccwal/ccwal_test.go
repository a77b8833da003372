package ccwal

import (
	"errors"
	"testing"
)

func TestVersionMatchesHeader(t *testing.T) {
	if Version() != HeaderVersion() {
		t.Fatalf("library %s, header %s", Version(), HeaderVersion())
	}
}

func TestCodeStringsComeFromTheLibrary(t *testing.T) {
	if CodeOK.String() != "ok" {
		t.Fatalf("CodeOK = %q", CodeOK.String())
	}
	if CodeQueueFull.String() == "" || CodeQueueFull == CodeClosed {
		t.Fatal("codes must be distinct and described")
	}
	for _, unknown := range []Code{12345, -1, 99} {
		if got := unknown.String(); got != "unknown result code" {
			t.Fatalf("Code(%d) = %q", int(unknown), got)
		}
	}
}

func TestErrorsIsMatchesByCode(t *testing.T) {
	var err error = &Error{Code: CodeQueueFull, Message: "shard 1 full"}
	if !errors.Is(err, ErrQueueFull) || errors.Is(err, ErrClosed) {
		t.Fatal("errors.Is must compare codes")
	}
	if toError(0, nil) != nil {
		t.Fatal("CCWAL_OK is no error")
	}
}

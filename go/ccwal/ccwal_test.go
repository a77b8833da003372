package ccwal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
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

// The OS error behind an I/O error unwraps to a syscall.Errno, through
// further wrapping with %w too, so callers can test for ENOSPC.
func TestIOErrorsUnwrapToTheirErrno(t *testing.T) {
	var err error = &Error{Code: CodeIO, Message: "write /r/c/h/current.wal: no space", Errno: int(syscall.ENOSPC)}
	wrapped := fmt.Errorf("%w: %w", errors.New("WAL write failed"), err)
	if !errors.Is(wrapped, syscall.ENOSPC) || !errors.Is(wrapped, ErrIO) || errors.Is(wrapped, syscall.EIO) {
		t.Fatalf("errors.Is through %v", wrapped)
	}
	var errno syscall.Errno
	if !errors.As(wrapped, &errno) || errno != syscall.ENOSPC {
		t.Fatalf("errors.As: %v", errno)
	}
	if (&Error{Code: CodeCorrupt, Message: "bad magic"}).Unwrap() != nil {
		t.Fatal("no errno, nothing to unwrap")
	}
}

// A call that fails on one file names it in Path, and its errno unwraps:
// a restore whose root is a regular file cannot list it.
func TestErrorsCarryThePathAndErrno(t *testing.T) {
	root := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(root, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(root, 0, map[string]int64{"m": 60}, RestoreOptions{})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeIO || e.Path != root || !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("got %#v", err)
	}
}

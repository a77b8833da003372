#!/usr/bin/env bash
# The Go binding as a dependency of another module: installs ccwal into a
# temporary prefix, creates a consumer module in a temporary directory
# outside the repository that requires github.com/ccwal/ccwal/go/ccwal
# (a replace to this checkout), vendors it, and builds and runs the vendored
# copy against the prefix: statically (the default) and with -tags
# ccwal_shared. Run by `make test-go-consumer` (part of `make test`).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ccwal-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
case "$work" in "$repo"/*) echo "temporary directory inside the repository" >&2; exit 1 ;; esac

make -C "$repo" --no-print-directory install PREFIX="$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
unset GOFLAGS

mkdir "$work/consumer"
cd "$work/consumer"
cat > go.mod <<MOD
module example.com/ccwalconsumer

go 1.22

require github.com/ccwal/ccwal/go/ccwal v0.0.0

replace github.com/ccwal/ccwal/go/ccwal => $repo/go/ccwal
MOD
cat > main.go <<'GO'
// A consumer of the ccwal binding: writes, flushes and closes a store, then
// restores it and checks the sample.
package main

import (
	"fmt"
	"os"

	"github.com/ccwal/ccwal/go/ccwal"
)

func main() {
	root := os.Args[1]
	if ccwal.Version() != ccwal.HeaderVersion() {
		fail("library %s, header %s", ccwal.Version(), ccwal.HeaderVersion())
	}
	store, err := ccwal.Open(ccwal.Options{Root: root, Durability: ccwal.DurabilityAlways})
	check(err)
	check(store.Write("c", "h1", "cpu_load", nil, 42.5, 1_700_000_000))
	check(store.Sync())
	check(store.Close())
	restored, err := ccwal.Restore(root, 0, map[string]int64{"cpu_load": 60}, ccwal.RestoreOptions{})
	check(err)
	defer restored.Close()
	if len(restored.Hosts) != 1 || restored.Hosts[0].RecordsApplied != 1 {
		fail("restored %+v", restored.Hosts)
	}
	_, chunks, err := restored.Metric(0, 0, 0)
	check(err)
	if len(chunks) != 1 || len(chunks[0].Values) != 1 || chunks[0].Values[0] != 42.5 {
		fail("chunks %+v", chunks)
	}
	fmt.Println("ok", ccwal.Version())
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "consumer: "+format+"\n", args...)
	os.Exit(1)
}
GO
go mod vendor
# Only the binding is vendored: it needs nothing beyond the standard library.
packages=$(grep -v '^#' vendor/modules.txt)
[ "$packages" = github.com/ccwal/ccwal/go/ccwal ] ||
  { echo "vendored packages besides the binding:" >&2; cat vendor/modules.txt >&2; exit 1; }
dir=$(go list -mod=vendor -f '{{.Dir}}' github.com/ccwal/ccwal/go/ccwal)
[ "$dir" = "$work/consumer/vendor/github.com/ccwal/ccwal/go/ccwal" ] ||
  { echo "the binding builds from $dir, not from vendor/" >&2; exit 1; }

go build -mod=vendor -o consumer-static .
./consumer-static "$work/root-static"
# ldd into a file: with pipefail, `ldd | grep -q` fails whenever grep quits
# before ldd has written everything (SIGPIPE).
ldd consumer-static > ldd-static.txt
if grep -q libccwal ldd-static.txt; then echo "static build links libccwal.so" >&2; exit 1; fi

go build -mod=vendor -tags ccwal_shared -o consumer-shared .
ldd consumer-shared > ldd-shared.txt
grep -q "$work/prefix/lib/libccwal.so" ldd-shared.txt ||
  { echo "shared build does not use the prefix's libccwal.so:" >&2; cat ldd-shared.txt >&2; exit 1; }
./consumer-shared "$work/root-shared"
echo "go-consumer: vendored binding built and ran against $work/prefix (static and shared)"

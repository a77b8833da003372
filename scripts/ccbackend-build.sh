#!/usr/bin/env bash
# Builds the cc-backend v1.5.4 server from the published Go module, with the
# ordinary Go tools, in a build module under target/ (no cc-backend source is
# committed here).
#
#   scripts/ccbackend-build.sh stock   # -> target/cc-backend-stock/cc-backend
#
# MODE selects the variant; every mode shares the build module set-up below
# (require v1.5.4, go mod tidy -e, go mod vendor), so a mode that swaps
# cc-backend files adds only its own go build flags (e.g. -overlay).
#
# Needs Go >= 1.25 and a C compiler (cgo: github.com/mattn/go-sqlite3 bundles
# SQLite's C source, so no libsqlite3 is needed). The web frontend is not
# built: the module ships web/frontend/public without the compiled bundle
# (public/build), and `//go:embed frontend/public/*` embeds what is there, so
# the server builds without npm; only the browser UI lacks its JavaScript.
# The REST and GraphQL APIs are complete.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-stock}
CCB_VERSION=${CCB_VERSION:-v1.5.4}
ROOT=$PWD

case "$MODE" in
stock) ;;
*) echo "usage: $0 stock" >&2; exit 2 ;;
esac

BUILD=$ROOT/target/cc-backend-$MODE/build
OUT=$ROOT/target/cc-backend-$MODE/cc-backend
mkdir -p "$BUILD"

# The build module: requires cc-backend and imports its main package through
# a blank import in tools.go, so `go mod tidy` keeps every dependency of
# cmd/cc-backend and `go mod vendor` vendors them.
if [ ! -f "$BUILD/go.mod" ] || ! grep -q "cc-backend $CCB_VERSION" "$BUILD/go.mod"; then
  rm -rf "$BUILD"/go.mod "$BUILD"/go.sum "$BUILD"/vendor
  cat >"$BUILD/go.mod" <<GOMOD
module ccwal.local/ccbackend-$MODE

go 1.25.0

require github.com/ClusterCockpit/cc-backend $CCB_VERSION
GOMOD
fi
cat >"$BUILD/tools.go" <<'GOSRC'
//go:build tools

// Package build only pins cc-backend's server for `go mod tidy`/`go mod vendor`.
package build

import _ "github.com/ClusterCockpit/cc-backend/cmd/cc-backend"
GOSRC

cd "$BUILD"
if [ ! -f vendor/modules.txt ] || [ go.mod -nt vendor/modules.txt ]; then
  go mod tidy -e
  go mod vendor
fi

# The module's Makefile stamps these through -ldflags; do the same.
LDFLAGS="-X main.version=${CCB_VERSION#v} -X main.commit=module-$CCB_VERSION -X main.date=unknown"
CGO_ENABLED=1 go build -mod=vendor -trimpath -ldflags "$LDFLAGS" -o "$OUT" \
  github.com/ClusterCockpit/cc-backend/cmd/cc-backend
echo "built $OUT ($MODE, cc-backend $CCB_VERSION)"

#!/usr/bin/env bash
# Builds the cc-backend server from its published Go module, through the Go
# module proxy, with nothing of cc-backend kept in this repository.
#
#   scripts/ccbackend-build.sh MODE [build|test|prepare]
#
# MODE stock: cc-backend as published -> target/cc-backend-stock/cc-backend
# MODE ccwal: its metricstore persistence path swapped for ccwal
#             -> target/cc-backend/cc-backend
# build (default) builds the server; test runs cc-backend's own
# pkg/metricstore tests (upstream's _test.go files, taken from the module
# cache at build time) against the package as built; prepare only sets up
# the build module.
#
# How: a build module under target/ccbackend-build/MODE requires
# github.com/ClusterCockpit/cc-backend (CCBACKEND_VERSION, default v1.5.4)
# as a tool, `go mod tidy -e` and `go mod vendor` fetch it, and
# `go build -mod=vendor -overlay overlay.json` builds cmd/cc-backend. The
# Go tool refuses overlays of files inside the module cache, hence the
# vendoring. In ccwal mode the overlay
#   - replaces each vendored file named in cc-backend/splice.txt by a copy
#     without the declarations listed there (scripts/ccbackend-splice.go),
#   - adds this repository's files under cc-backend/ (same layout as
#     upstream) that declare them anew on top of ccwal,
#   - and the build module requires the Go binding (go/ccwal, by a
#     replace to this checkout), linked through pkg-config: PKG_CONFIG_PATH
#     must find ccwal.pc (`make go-prefix`, as `make cc-backend` does).
# The web frontend (an npm build, not part of the Go module) is replaced
# by a placeholder page: the REST and GraphQL APIs are complete.
# Vendoring is redone only when the inputs of the build module change.
set -euo pipefail

mode=${1:?usage: $0 stock|ccwal [build|test|prepare]}
action=${2:-build}
repo=$(cd "$(dirname "$0")/.." && pwd)
version=${CCBACKEND_VERSION:-v1.5.4}
module=github.com/ClusterCockpit/cc-backend
binding=github.com/ccwal/ccwal/go/ccwal
case "$mode" in
  stock) out=${CCBACKEND_OUT:-$repo/target/cc-backend-stock/cc-backend} ;;
  ccwal) out=${CCBACKEND_OUT:-$repo/target/cc-backend/cc-backend} ;;
  *) echo "unknown mode $mode (stock|ccwal)" >&2; exit 2 ;;
esac
build=$repo/target/ccbackend-build/$mode
mkdir -p "$build"
cd "$build"
unset GOFLAGS
export GOFLAGS=-buildvcs=false

# 1. The build module, vendored (skipped when its inputs are unchanged).
stamp="$version $mode $(cat "$repo/scripts/ccbackend-build.sh" "$repo/go/ccwal/go.mod" | sha256sum | cut -c1-16)"
if [ ! -f vendor/modules.txt ] || [ "$(cat .vendored 2>/dev/null)" != "$stamp" ]; then
  rm -rf vendor .vendored go.mod go.sum deps.go
  {
    echo "module ccwal.local/ccbackend-build"
    echo
    echo "go 1.25.0"
    echo
    echo "tool $module/cmd/cc-backend"
    echo
    echo "require $module $version"
    if [ "$mode" = ccwal ]; then
      echo "require $binding v0.0.0"
      echo "replace $binding => $repo/go/ccwal"
    fi
  } > go.mod
  if [ "$mode" = ccwal ]; then
    # The swapped metricstore imports the binding: vendor it too.
    printf 'package build\n\nimport _ "%s"\n' "$binding" > deps.go
  fi
  # -e: modules needed only by tests of dependencies may be missing from
  # the proxy (tidy then exits 1 having written go.mod and go.sum); a
  # module the build needs would make `go mod vendor` fail.
  go mod tidy -e || echo "go mod tidy reported errors (above); vendoring what the build needs"
  go mod vendor
  echo "$stamp" > .vendored
fi
vendored=$build/vendor/$module

# 2. The frontend placeholder (web/ embeds frontend/public/*).
public=$vendored/web/frontend/public
if [ ! -e "$public/index.html" ]; then
  mkdir -p "$public"
  echo "<!doctype html><title>cc-backend</title><p>Built without the web frontend (npm); the APIs are complete." > "$public/index.html"
fi

# 3. The overlay.
entries=()
add() { entries+=("$(printf '"%s": "%s"' "$1" "$2")"); }
if [ "$mode" = ccwal ]; then
  rm -rf overlay && mkdir -p overlay
  while read -r file names; do
    case "$file" in ''|'#'*) continue ;; esac
    mkdir -p "overlay/$(dirname "$file")"
    go run "$repo/scripts/ccbackend-splice.go" -in "$vendored/$file" -out "$build/overlay/$file" -drop "$names"
    add "$vendored/$file" "$build/overlay/$file"
  done < "$repo/cc-backend/splice.txt"
  # Our tests (ccwal_*_test.go) only for the test action.
  tests=(! -name '*_test.go')
  [ "$action" = test ] && tests=()
  while IFS= read -r file; do
    rel=${file#"$repo/cc-backend/"}
    add "$vendored/$rel" "$file"
  done < <(find "$repo/cc-backend" -name '*.go' "${tests[@]}" | sort)
  # The binding as it is in this checkout, not as it was vendored: its Go
  # files over the vendored copy, which changes only with its go.mod.
  for file in "$repo"/go/ccwal/*.go; do
    case "$file" in *_test.go) continue ;; esac
    add "$build/vendor/$binding/$(basename "$file")" "$file"
  done
fi
if [ "$action" = test ]; then
  # Upstream's tests of pkg/metricstore (vendoring leaves _test.go files out).
  cache=$(go env GOMODCACHE)/github.com/!cluster!cockpit/cc-backend@$version
  mkdir -p upstream-tests
  for file in "$cache"/pkg/metricstore/*_test.go; do
    cp -f "$file" upstream-tests/ && chmod u+w "upstream-tests/$(basename "$file")"
    add "$vendored/pkg/metricstore/$(basename "$file")" "$build/upstream-tests/$(basename "$file")"
  done
fi
{
  echo '{"Replace": {'
  for i in "${!entries[@]}"; do
    [ "$i" -gt 0 ] && echo ","
    printf '  %s' "${entries[$i]}"
  done
  echo
  echo '}}'
} > overlay.json

case "$action" in
  prepare) ;;
  build)
    mkdir -p "$(dirname "$out")"
    go build -mod=vendor -overlay overlay.json \
      -ldflags "-X main.version=${version#v} -X main.commit=$mode -X main.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
      -o "$out" "$module/cmd/cc-backend"
    echo "built $out ($mode, cc-backend $version)"
    ;;
  test)
    go vet -mod=vendor -overlay overlay.json "$module/pkg/metricstore"
    go test -mod=vendor -overlay overlay.json -count=1 -v "$module/pkg/metricstore" > test.log 2>&1 ||
      { cat test.log; exit 1; }
    grep -E '^(--- FAIL|ok|FAIL)' test.log || true
    echo "pkg/metricstore: $(grep -c '^--- PASS' test.log) tests passed ($(grep -c '^--- PASS: TestCcwal' test.log) of them ccwal's)"
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Builds the cc-backend server from its published Go module, through the Go
# module proxy, with nothing of cc-backend kept in this repository.
#
#   scripts/ccbackend-build.sh MODE [build|test|bench|prepare]
#
# MODE stock: cc-backend as published -> target/cc-backend-stock/cc-backend
# MODE ccwal: its metricstore persistence path swapped for ccwal
#             -> target/cc-backend/cc-backend
# build (default) builds the server; test runs cc-backend's own
# pkg/metricstore and internal/auth tests (upstream's _test.go files, taken
# from the module cache at build time) against the packages as built;
# bench runs our benchmarks of pkg/metricstore (BENCH_COUNT times); prepare
# only sets up the build module.
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
# The web frontend's scripts (public/build/*.js, *.css) are not part of the
# Go module: they are built from the module's own web/frontend with
# `npm ci` (its lock file pins every package) and `npm run build` in a
# writable copy under target/ccbackend-ui/VERSION (Node >= 20; a few
# minutes, 1.3 GB of memory), once per version and shared by both modes,
# and embedded through overlay entries (go:embed honours them).
# CCBACKEND_UI=none builds without them (the APIs work, the pages do not).
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
# The binding is vendored too (-mod=vendor reads vendor/, not the replace
# target): its sources are inputs.
stamp="$version $mode $(cat "$repo/scripts/ccbackend-build.sh" "$repo"/go/ccwal/go.mod "$repo"/go/ccwal/*.go | sha256sum | cut -c1-16)"
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

cache=$(go env GOMODCACHE)/github.com/!cluster!cockpit/cc-backend@$version

# 2. The web frontend's build (web/ embeds frontend/public/*), shared by
# both modes; a lock keeps two concurrent builds from sharing one copy.
ui=$repo/target/ccbackend-ui/$version
if [ "${CCBACKEND_UI:-}" != none ]; then
  mkdir -p "$ui"
  (
    flock 9
    if [ ! -f "$ui/build/.done" ]; then
      command -v npm > /dev/null ||
        { echo "npm (Node >= 20) is needed to build cc-backend's web frontend; CCBACKEND_UI=none builds without it" >&2; exit 1; }
      echo "building cc-backend's web frontend (npm ci, npm run build) in $ui/frontend"
      rm -rf "$ui/frontend" "$ui/build"
      cp -r "$cache/web/frontend" "$ui/frontend"
      chmod -R u+w "$ui/frontend"
      t0=$(date +%s)
      # Rollup's warnings (circular imports inside svelte) go to the log.
      (cd "$ui/frontend" && npm ci --no-audit --no-fund --loglevel=error && npm run build) > "$ui/npm.log" 2>&1 ||
        { tail -n 40 "$ui/npm.log"; echo "the web frontend's npm build failed (log: $ui/npm.log)" >&2; exit 1; }
      mv "$ui/frontend/public/build" "$ui/build"
      # node_modules is only needed for the build (about 100 MB).
      rm -rf "$ui/frontend"
      touch "$ui/build/.done"
      echo "web frontend built in $(($(date +%s) - t0)) s: $(find "$ui/build" -name '*.js' | wc -l) scripts, $(du -sh "$ui/build" | cut -f1)"
    fi
  ) 9> "$ui/.lock"
fi

# 3. The overlay.
entries=()
add() { entries+=("$(printf '"%s": "%s"' "$1" "$2")"); }
if [ "${CCBACKEND_UI:-}" != none ]; then
  for file in "$ui"/build/*.js "$ui"/build/*.css; do
    add "$vendored/web/frontend/public/build/$(basename "$file")" "$file"
  done
fi
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
  case "$action" in test|bench) tests=() ;; esac
  while IFS= read -r file; do
    rel=${file#"$repo/cc-backend/"}
    add "$vendored/$rel" "$file"
  done < <(find "$repo/cc-backend" -name '*.go' "${tests[@]}" | sort)
fi
if [ "$action" = test ] || [ "$action" = bench ]; then
  # Upstream's tests of the packages we change (vendoring leaves _test.go
  # files out).
  for pkg in pkg/metricstore internal/auth; do
    mkdir -p "upstream-tests/$pkg"
    for file in "$cache/$pkg"/*_test.go; do
      cp -f "$file" "upstream-tests/$pkg/" && chmod u+w "upstream-tests/$pkg/$(basename "$file")"
      add "$vendored/$pkg/$(basename "$file")" "$build/upstream-tests/$pkg/$(basename "$file")"
    done
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
    go vet -mod=vendor -overlay overlay.json "$module/pkg/metricstore" "$module/internal/auth"
    go test -mod=vendor -overlay overlay.json -race -count=1 -v "$module/pkg/metricstore" "$module/internal/auth" > test.log 2>&1 ||
      { cat test.log; exit 1; }
    grep -E '^(--- FAIL|ok|FAIL)' test.log || true
    echo "pkg/metricstore, internal/auth: $(grep -c '^--- PASS' test.log) tests passed ($(grep -c '^--- PASS: TestCcwal' test.log) of them ccwal's)"
    ;;
  bench)
    go test -mod=vendor -overlay overlay.json -run '^$' -bench Ccwal -count "${BENCH_COUNT:-5}" "$module/pkg/metricstore"
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac

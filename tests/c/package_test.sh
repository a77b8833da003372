#!/bin/sh
# ctest `cmake_package_consumer`: installs the library as `make install`
# does, into a prefix below WORK, and builds examples/c against it with
# find_package(ccwal) as a project outside this tree would.
#
#     package_test.sh ROOT LIB_DIR WORK CMAKE CC
set -eu
root=$1 lib_dir=$2 work=$3 cmake=$4 cc=$5
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

fail() { echo "package_test: $*" >&2; exit 1; }

sh "$root/scripts/install.sh" "$lib_dir" "$prefix"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
major=${version%%.*}

# The shared library: the real file, the SONAME link, the development link.
test -f "$prefix/lib/libccwal.so.$version" || fail "libccwal.so.$version missing"
test "$(readlink "$prefix/lib/libccwal.so.$major")" = "libccwal.so.$version" ||
  fail "libccwal.so.$major is not a link to libccwal.so.$version"
test "$(readlink "$prefix/lib/libccwal.so")" = "libccwal.so.$major" ||
  fail "libccwal.so is not a link to libccwal.so.$major"
if command -v readelf >/dev/null; then
  readelf -d "$prefix/lib/libccwal.so.$version" | grep -q "SONAME.*\[libccwal.so.$major\]" ||
    fail "SONAME is not libccwal.so.$major"
  # Stripped by default; DEBUG_SYMBOLS=1 keeps the debug information.
  if readelf -S "$prefix/lib/libccwal.so.$version" | grep -q '\.debug_info'; then
    fail "installed libccwal.so has debug information"
  fi
  if readelf -S "$lib_dir/libccwal.so" | grep -q '\.debug_info'; then
    DEBUG_SYMBOLS=1 sh "$root/scripts/install.sh" "$lib_dir" "$work/debug"
    readelf -S "$work/debug/lib/libccwal.so.$version" | grep -q '\.debug_info' ||
      fail "DEBUG_SYMBOLS=1 did not keep the debug information"
  fi
fi
test -f "$prefix/lib/cmake/ccwal/ccwalConfig.cmake" || fail "no CMake package"
test -f "$prefix/lib/pkgconfig/ccwal.pc" || fail "no pkg-config file"

# A consumer outside the tree: examples/c with the installed package only.
"$cmake" -S "$root/examples/c" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release
"$cmake" --build "$work/build"
"$work/build/quickstart" "$work/root-shared"
"$work/build/quickstart_static" "$work/root-static"
# The shared program needs the SONAME, found through its RPATH.
if command -v ldd >/dev/null; then
  ldd "$work/build/quickstart" | grep -q "libccwal.so.$major => $prefix/lib/libccwal.so.$major" ||
    fail "quickstart does not load libccwal.so.$major from the prefix"
fi

# A request for another minor version (0.x) or a newer one is refused.
mkdir -p "$work/wrong"
printf 'cmake_minimum_required(VERSION 3.16)\nproject(wrong C)\nfind_package(ccwal 99 CONFIG REQUIRED)\n' \
  > "$work/wrong/CMakeLists.txt"
if "$cmake" -S "$work/wrong" -B "$work/wrong/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1; then
  fail "find_package(ccwal 99) accepted version $version"
fi
echo "package_test: ok ($version)"

#!/bin/sh
# Installs ccwal's C library: the header, libccwal.a, the shared library as
# libccwal.so.VERSION with the links libccwal.so.MAJOR (its SONAME) and
# libccwal.so, a pkg-config file and a CMake package. Used by `make install`
# and by the C tests (which install into a temporary prefix).
#
#     scripts/install.sh LIB_DIR PREFIX
#
# LIB_DIR holds the libraries cargo built (target/release). The libraries
# are stripped unless DEBUG_SYMBOLS=1. DESTDIR is prepended to every path
# written (staged installs); PREFIX is what the pkg-config file names.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 LIB_DIR PREFIX" >&2
  exit 2
fi
lib_dir=$1
prefix=$2
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${DESTDIR:-}${prefix}
strip=${STRIP:-strip}

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
[ -n "$version" ] || { echo "$0: no version in Cargo.toml" >&2; exit 2; }

for file in "$lib_dir/libccwal.a" "$lib_dir/libccwal.so"; do
  [ -f "$file" ] || { echo "$0: $file missing (make lib)" >&2; exit 2; }
done

install -d "$dest/include" "$dest/lib/pkgconfig" "$dest/lib/cmake/ccwal"
install -m 644 "$root/include/ccwal.h" "$dest/include/"
install -m 644 "$lib_dir/libccwal.a" "$dest/lib/libccwal.a"
install -m 755 "$lib_dir/libccwal.so" "$dest/lib/libccwal.so.$version"
ln -sf "libccwal.so.$version" "$dest/lib/libccwal.so.$major"
ln -sf "libccwal.so.$major" "$dest/lib/libccwal.so"
if [ "${DEBUG_SYMBOLS:-0}" != 1 ]; then
  # Debug information only: the symbols a linker needs stay.
  "$strip" --strip-debug "$dest/lib/libccwal.a"
  "$strip" --strip-unneeded "$dest/lib/libccwal.so.$version"
fi

# ccwal.pc links the static library (with the system libraries it needs),
# ccwal-shared.pc the shared one.
for pc in ccwal ccwal-shared; do
  sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" \
    "$root/$pc.pc.in" > "$dest/lib/pkgconfig/$pc.pc"
done
for name in ccwalConfig ccwalConfigVersion; do
  sed -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" -e "s|@MINOR@|$minor|g" \
    "$root/cmake/$name.cmake.in" > "$dest/lib/cmake/ccwal/$name.cmake"
done

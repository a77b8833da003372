#!/bin/sh
# check_symbols.sh BINARY LIBFAULTFS: lists the libc functions that create,
# write, sync, rename, delete or truncate files which BINARY imports, and
# fails naming those LIBFAULTFS does not interpose (so fault injection would
# silently miss them). Exits 77 (skipped) without nm.
set -eu
binary=$1
faultfs=$2
command -v nm >/dev/null 2>&1 || { echo "nm not found: skipped"; exit 77; }
calls='open open64 openat openat64 creat creat64 __open_2 __open64_2 __openat_2
__openat64_2 fopen fopen64 freopen freopen64 write writev pwrite pwrite64
pwritev pwritev64 pwritev2 pwritev64v2 fsync fdatasync syncfs sync
sync_file_range msync rename renameat renameat2 link linkat symlink symlinkat
unlink unlinkat rmdir remove ftruncate ftruncate64 truncate truncate64
fallocate fallocate64 posix_fallocate posix_fallocate64 copy_file_range
sendfile sendfile64 splice mkdir mkdirat mknod mknodat close'
imported=$(nm -D --undefined-only "$binary" | awk '{print $NF}' | sed 's/@.*//' | sort -u)
defined=$(nm -D --defined-only "$faultfs" | awk '{print $NF}' | sort -u)
used=''
missing=''
for call in $calls; do
  if printf '%s\n' "$imported" | grep -qx "$call"; then
    used="$used $call"
    printf '%s\n' "$defined" | grep -qx "$call" || missing="$missing $call"
  fi
done
echo "file calls $(basename "$binary") imports:$used"
if [ -n "$missing" ]; then
  echo "not interposed by $(basename "$faultfs"):$missing"
  exit 1
fi

/* faultfs: an LD_PRELOAD library that makes file system calls below one
 * root directory fail on demand, with the errno a failing disk gives, and
 * that keeps a durability oracle (which bytes and directory entries below
 * the root an fsync, fdatasync or syncfs has made durable).
 *
 * Built as a shared library (tests/c/CMakeLists.txt, tests/common/faultfs.rs):
 *   cc -shared -fPIC -O1 -o libfaultfs.so faultfs.c -ldl -lpthread
 * and preloaded: LD_PRELOAD=/path/libfaultfs.so FAULTFS_ROOT=/tmp/x prog
 *
 * Interposed (through dlsym(RTLD_NEXT)): open open64 openat openat64 creat
 * creat64 __open_2 __open64_2 __openat_2 __openat64_2 | read readv pread
 * pread64 | write | writev | pwrite pwrite64 pwritev pwritev64 pwritev2
 * pwritev64v2 | fsync | fdatasync | syncfs | rename renameat renameat2 |
 * unlink unlinkat(without AT_REMOVEDIR) | rmdir unlinkat(AT_REMOVEDIR) |
 * ftruncate ftruncate64 truncate truncate64 | mkdir mkdirat | close; and
 * dup2/dup3 to forget the descriptor they replace. Calls made inside glibc
 * itself (fopen, opendir, ...) are not interposable and are not seen.
 *
 * Only calls on paths, or descriptors opened on paths, at or below the root
 * are counted and can fail; everything else (stdout, stderr, pipes, other
 * files) passes straight through. The root comes from the environment
 * variable FAULTFS_ROOT at load and from faultfs_set_root() at run time.
 * Descriptors are tracked from the open that created them (the path it
 * was opened by, device, inode); a descriptor faultfs did not see open, or
 * whose inode changed since, is looked up in /proc/self/fd. Paths are
 * compared as given (made absolute, "." and ".." removed), so a file
 * reached through another path (/proc/self/root/ROOT/..., a symlink
 * outside the root) is outside the root: that is how a test reads its
 * files to check them while faults are active.
 *
 * Rules, from the environment variable FAULTFS at load and from
 * faultfs_set() at run time:
 *
 *   spec   := rule (';' rule)*                  (empty: no rule)
 *   rule   := ops ':' errno (':' option)*
 *   ops    := op ('|' op)* | '*'
 *   op     := open read write writev pwrite fsync fdatasync syncfs rename
 *             unlink rmdir ftruncate mkdir close
 *   errno  := ENOSPC EIO EMFILE ENFILE EDQUOT EROFS EACCES EPERM EINTR
 *             EAGAIN ENOENT EEXIST EXDEV EBADF EINVAL ENOMEM EFBIG ... | N
 *   option := after=N        let the first N matching calls through (0)
 *           | count=N|inf    then fail N calls, or every call (inf)
 *           | partial=K      write/writev/pwrite: really write the first K
 *                            bytes, then fail the call
 *           | path=TEXT      only paths containing TEXT
 *
 * e.g. FAULTFS='write|writev:ENOSPC:after=3:count=inf;fdatasync:EIO'.
 * A failed call returns -1 with errno set and has no effect, except: a
 * failed close still closes the descriptor (as Linux does), and a failed
 * write with partial=K leaves K bytes written. Rules are tried in order;
 * each counts the calls it matches, and the first rule that fails a call
 * ends the search (later rules do not see that call).
 *
 * Durability oracle: every regular file below the root has a durable
 * prefix: what an fsync/fdatasync of it (or a syncfs) made durable, taking
 * the size *before* the call. A failed fsync, fdatasync or syncfs (injected
 * or real) models Linux's writeback error: the unsynced bytes are lost,
 * "poisoned" — no later fsync makes them durable (Linux reports the error
 * once and then reports success for pages it has dropped); only cutting
 * them off (ftruncate) or writing over them again clears that. As Linux
 * reports a writeback error to the next fsync of every file it hit, a
 * failed syncfs makes the next fsync/fdatasync of each file whose bytes it
 * poisoned fail once with the same errno (an fsync that failed itself has
 * reported its error already). A
 * directory entry created below the root (open O_CREAT, mkdir, rename
 * target) is pending until an fsync of its directory or a syncfs makes it
 * durable. faultfs_unsynced_bytes(), faultfs_entry_dirty() and
 * faultfs_dir_dirty() query the oracle.
 *
 * Thread-safe: one mutex guards the rules, counters, descriptor table and
 * oracle; the real calls run outside it. Not async-signal-safe.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

enum op {
  OP_OPEN,
  OP_READ,
  OP_WRITE,
  OP_WRITEV,
  OP_PWRITE,
  OP_FSYNC,
  OP_FDATASYNC,
  OP_SYNCFS,
  OP_RENAME,
  OP_UNLINK,
  OP_RMDIR,
  OP_FTRUNCATE,
  OP_MKDIR,
  OP_CLOSE,
  OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "open",   "read",  "write", "writev",    "pwrite", "fsync", "fdatasync",
    "syncfs", "rename", "unlink", "rmdir", "ftruncate", "mkdir", "close"};

static const struct {
  const char *name;
  int value;
} errno_names[] = {
    {"ENOSPC", ENOSPC}, {"EIO", EIO},         {"EMFILE", EMFILE},   {"ENFILE", ENFILE},
    {"EDQUOT", EDQUOT}, {"EROFS", EROFS},     {"EACCES", EACCES},   {"EPERM", EPERM},
    {"EINTR", EINTR},   {"EAGAIN", EAGAIN},   {"ENOENT", ENOENT},   {"EEXIST", EEXIST},
    {"EXDEV", EXDEV},   {"EBADF", EBADF},     {"EINVAL", EINVAL},   {"ENOMEM", ENOMEM},
    {"EFBIG", EFBIG},   {"ENOTDIR", ENOTDIR}, {"EISDIR", EISDIR},   {"ESTALE", ESTALE},
    {"ENOSYS", ENOSYS}, {"ETIMEDOUT", ETIMEDOUT},
};

#define MAX_RULES 32
#define FD_MAX 65536

struct rule {
  unsigned ops;
  int error;
  long after;
  long count; /* -1: forever */
  long partial; /* -1: none */
  char path[256];
  long seen;
  long failed;
};

struct fd_entry {
  char *path; /* canonical, from /proc/self/fd at open */
  dev_t dev;
  ino_t ino;
};

/* The oracle's view of one regular file below the root. */
struct inode {
  dev_t dev;
  ino_t ino;
  char *path; /* last known canonical path (for syncfs) */
  off_t durable; /* bytes [0, durable) are durable */
  off_t poison_start, poison_end; /* lost by a failed sync; empty when equal */
  int pending_error; /* reported by the next fsync/fdatasync (after syncfs) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static struct rule rules[MAX_RULES];
static int rule_count;
static long calls[OP_COUNT];
static long hits[OP_COUNT];
static char root[PATH_MAX];      /* lexical, normalised; "" = none */
static char root_real[PATH_MAX]; /* realpath of root, when it exists */
static int logging;
static struct fd_entry fds[FD_MAX];
static struct inode *inodes;
static size_t inode_count, inode_cap;
static int poisoned_files; /* inodes with a poisoned range */
static char **pending; /* canonical paths of entries not yet durable */
static size_t pending_count, pending_cap;

/* ---- the real functions ---- */

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_creat)(const char *, mode_t);
static int (*real_creat64)(const char *, mode_t);
static int (*real___open_2)(const char *, int);
static int (*real___open64_2)(const char *, int);
static int (*real___openat_2)(int, const char *, int);
static int (*real___openat64_2)(int, const char *, int);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_readv)(int, const struct iovec *, int);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pread64)(int, void *, size_t, off64_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off64_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static ssize_t (*real_pwritev64v2)(int, const struct iovec *, int, off64_t, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_rmdir)(const char *);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_truncate)(const char *, off_t);
static int (*real_truncate64)(const char *, off64_t);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_mkdirat)(int, const char *, mode_t);
static int (*real_close)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);

/* ---- small helpers (none of them calls an interposed function) ---- */

static void say(const char *fmt, ...) {
  char line[PATH_MAX + 256];
  va_list args;
  va_start(args, fmt);
  int n = vsnprintf(line, sizeof line, fmt, args);
  va_end(args);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  if (real_write) {
    ssize_t ignored = real_write(2, line, (size_t)n);
    (void)ignored;
  }
}

/* Collapses "//", "/./" and "/../" of an absolute path, in place. */
static void normalize(char *path) {
  char out[PATH_MAX];
  size_t len = 0;
  const char *p = path;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 1 && p[0] == '.') {
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      while (len > 0 && out[len - 1] != '/') len--;
      if (len > 0) len--;
    } else if (len + 1 + n < sizeof out) {
      out[len++] = '/';
      memcpy(out + len, p, n);
      len += n;
    }
    p += n;
  }
  if (len == 0) out[len++] = '/';
  out[len] = 0;
  memcpy(path, out, len + 1);
}

/* out = a + sep + b, or -1 when it does not fit in PATH_MAX. */
static int join(char *out, const char *a, const char *sep, const char *b) {
  size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
  if (la + ls + lb >= PATH_MAX) return -1;
  memmove(out, a, la);
  memcpy(out + la, sep, ls);
  memcpy(out + la + ls, b, lb + 1);
  return 0;
}

static int fd_link(int fd, char *out) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(proc, out, PATH_MAX - 1);
  if (n < 0) return -1;
  out[n] = 0;
  return 0;
}

/* The absolute, lexically normalised form of `path` relative to `dirfd`. */
static int resolve(int dirfd, const char *path, char *out) {
  if (path == NULL) return -1;
  char base[PATH_MAX];
  if (path[0] == '/') {
    base[0] = 0;
  } else if (dirfd == AT_FDCWD) {
    if (getcwd(base, sizeof base) == NULL) return -1;
  } else if (fd_link(dirfd, base) != 0) {
    return -1;
  }
  if (join(out, base, "/", path) != 0) return -1;
  normalize(out);
  return 0;
}

/* The canonical path of the directory holding `abs`, plus its last
 * component: what /proc/self/fd shows for a file opened there. */
static int canonical(const char *abs, char *out) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", abs);
  char *slash = strrchr(dir, '/');
  if (slash == NULL) return -1;
  const char *name = abs + (slash - dir) + 1;
  if (slash == dir) {
    dir[1] = 0;
  } else {
    *slash = 0;
  }
  char real[PATH_MAX];
  if (realpath(dir, real) == NULL) return -1;
  return join(out, real, strcmp(real, "/") == 0 ? "" : "/", name);
}

static int parent_of(const char *path, char *out) {
  snprintf(out, PATH_MAX, "%s", path);
  char *slash = strrchr(out, '/');
  if (slash == NULL) return -1;
  if (slash == out) {
    out[1] = 0;
  } else {
    *slash = 0;
  }
  return 0;
}

static int below(const char *path, const char *r) {
  size_t n = strlen(r);
  if (n == 0) return 0;
  if (n == 1 && r[0] == '/') return path[0] == '/';
  return strncmp(path, r, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* Under the lock. */
static int under_root(const char *path) {
  if (path == NULL || root[0] == 0) return 0;
  if (root_real[0] == 0) {
    char real[PATH_MAX];
    if (realpath(root, real) != NULL) snprintf(root_real, sizeof root_real, "%s", real);
  }
  return below(path, root) || (root_real[0] && below(path, root_real));
}

/* ---- rules ---- */

static int parse_ops(const char *text, size_t len, unsigned *ops) {
  *ops = 0;
  if (len == 1 && text[0] == '*') {
    *ops = (1u << OP_COUNT) - 1;
    return 0;
  }
  while (len > 0) {
    const char *bar = memchr(text, '|', len);
    size_t n = bar ? (size_t)(bar - text) : len;
    int found = -1;
    for (int op = 0; op < OP_COUNT; op++) {
      if (strlen(op_names[op]) == n && strncmp(op_names[op], text, n) == 0) found = op;
    }
    if (found < 0) return -1;
    *ops |= 1u << found;
    if (!bar) break;
    len -= n + 1;
    text += n + 1;
  }
  return *ops ? 0 : -1;
}

static int parse_long(const char *text, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < 0) return -1;
  *out = v;
  return 0;
}

static int parse_errno(const char *text) {
  for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++) {
    if (strcmp(errno_names[i].name, text) == 0) return errno_names[i].value;
  }
  long v;
  if (parse_long(text, &v) == 0 && v > 0 && v < 4096) return (int)v;
  return -1;
}

/* Parses one rule (a copy, modified in place). */
static int parse_rule(char *text, struct rule *rule) {
  memset(rule, 0, sizeof *rule);
  rule->count = -1;
  rule->partial = -1;
  char *save = NULL;
  char *field = strtok_r(text, ":", &save);
  if (field == NULL || parse_ops(field, strlen(field), &rule->ops) != 0) return -1;
  field = strtok_r(NULL, ":", &save);
  if (field == NULL || (rule->error = parse_errno(field)) < 0) return -1;
  while ((field = strtok_r(NULL, ":", &save)) != NULL) {
    char *eq = strchr(field, '=');
    if (eq == NULL) return -1;
    *eq = 0;
    const char *value = eq + 1;
    if (strcmp(field, "after") == 0) {
      if (parse_long(value, &rule->after) != 0) return -1;
    } else if (strcmp(field, "count") == 0) {
      if (strcmp(value, "inf") == 0) {
        rule->count = -1;
      } else if (parse_long(value, &rule->count) != 0) {
        return -1;
      }
    } else if (strcmp(field, "partial") == 0) {
      if (parse_long(value, &rule->partial) != 0) return -1;
    } else if (strcmp(field, "path") == 0) {
      if (strlen(value) >= sizeof rule->path) return -1;
      snprintf(rule->path, sizeof rule->path, "%s", value);
    } else {
      return -1;
    }
  }
  return 0;
}

/* Parses a whole spec into `out`; 0 or -1. Whitespace is ignored. */
static int parse_spec(const char *spec, struct rule *out, int *count) {
  *count = 0;
  if (spec == NULL) return 0;
  size_t len = strlen(spec);
  char *copy = malloc(len + 1);
  if (copy == NULL) return -1;
  size_t k = 0;
  for (size_t i = 0; i < len; i++) {
    if (spec[i] != ' ' && spec[i] != '\t' && spec[i] != '\n') copy[k++] = spec[i];
  }
  copy[k] = 0;
  int result = 0;
  char *save = NULL;
  for (char *text = strtok_r(copy, ";", &save); text; text = strtok_r(NULL, ";", &save)) {
    if (*count == MAX_RULES || parse_rule(text, &out[*count]) != 0) {
      result = -1;
      break;
    }
    (*count)++;
  }
  free(copy);
  return result;
}

struct decision {
  int under; /* the call concerns a path below the root */
  int fail;
  int error;
  long partial;
};

static void log_fault(int op, const char *path, int error) {
  if (logging) say("faultfs: %s(%s) -> %s\n", op_names[op], path ? path : "?", strerror(error));
}

/* Counts the call and decides whether it fails. Under the lock. */
static struct decision decide_locked(int op, const char *path, const char *path2) {
  struct decision d = {0, 0, 0, -1};
  d.under = under_root(path) || under_root(path2);
  if (!d.under) return d;
  calls[op]++;
  for (int i = 0; i < rule_count; i++) {
    struct rule *r = &rules[i];
    if (!(r->ops & (1u << op))) continue;
    if (r->path[0] && !(path && strstr(path, r->path)) && !(path2 && strstr(path2, r->path))) {
      continue;
    }
    r->seen++;
    if (r->seen <= r->after) continue;
    if (r->count >= 0 && r->failed >= r->count) continue;
    r->failed++;
    hits[op]++;
    d.fail = 1;
    d.error = r->error;
    d.partial = r->partial;
    break;
  }
  return d;
}

static struct decision decide(int op, const char *path, const char *path2) {
  pthread_mutex_lock(&lock);
  struct decision d = decide_locked(op, path, path2);
  pthread_mutex_unlock(&lock);
  if (d.fail) log_fault(op, path, d.error);
  return d;
}

/* The path of a descriptor: from the table when its inode is still the
 * one opened, else from /proc/self/fd. */
static int fd_path(int fd, char *out) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return -1;
  if (fd < FD_MAX) {
    pthread_mutex_lock(&lock);
    int ok = fds[fd].path && fds[fd].dev == st.st_dev && fds[fd].ino == st.st_ino;
    if (ok) snprintf(out, PATH_MAX, "%s", fds[fd].path);
    pthread_mutex_unlock(&lock);
    if (ok) return 0;
  }
  return fd_link(fd, out);
}

static struct decision decide_fd(int op, int fd, char *path) {
  if (fd_path(fd, path) != 0) {
    struct decision none = {0, 0, 0, -1};
    path[0] = 0;
    return none;
  }
  return decide(op, path, NULL);
}

/* ---- the oracle (all under the lock) ---- */

static struct inode *find_inode(dev_t dev, ino_t ino) {
  for (size_t i = 0; i < inode_count; i++) {
    if (inodes[i].dev == dev && inodes[i].ino == ino) return &inodes[i];
  }
  return NULL;
}

static struct inode *get_inode(dev_t dev, ino_t ino, off_t durable) {
  struct inode *node = find_inode(dev, ino);
  if (node) return node;
  if (inode_count == inode_cap) {
    size_t cap = inode_cap ? 2 * inode_cap : 64;
    struct inode *grown = realloc(inodes, cap * sizeof *grown);
    if (grown == NULL) return NULL;
    inodes = grown;
    inode_cap = cap;
  }
  node = &inodes[inode_count++];
  memset(node, 0, sizeof *node);
  node->dev = dev;
  node->ino = ino;
  node->durable = durable;
  return node;
}

static int is_poisoned(const struct inode *node) { return node->poison_end > node->poison_start; }

/* The file at `abs` (lexical) is about to lose a name: its inode, when that
 * is its last link, is forgotten once the call succeeds (the inode number
 * may come back as another file). Returns whether to forget it. */
static int last_link(const char *abs, struct stat *st) {
  return abs != NULL && lstat(abs, st) == 0 && S_ISREG(st->st_mode) && st->st_nlink == 1;
}

static void forget_inode(const struct stat *st);

static void set_poison(struct inode *node, off_t start, off_t end) {
  int was = is_poisoned(node);
  node->poison_start = start;
  node->poison_end = end;
  poisoned_files += is_poisoned(node) - was;
}

static void forget_inode(const struct stat *st) {
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < inode_count; i++) {
    if (inodes[i].dev == st->st_dev && inodes[i].ino == st->st_ino) {
      if (is_poisoned(&inodes[i])) poisoned_files--;
      free(inodes[i].path);
      inodes[i] = inodes[--inode_count];
      break;
    }
  }
  pthread_mutex_unlock(&lock);
}

static void set_inode_path(struct inode *node, const char *path) {
  char *copy = strdup(path);
  if (copy == NULL) return;
  free(node->path);
  node->path = copy;
}

/* The file now has `size` bytes after a truncation (or was created). */
static void cut(struct inode *node, off_t size) {
  if (node->durable > size) node->durable = size;
  if (is_poisoned(node)) {
    if (size <= node->poison_start) {
      set_poison(node, 0, 0);
    } else if (size < node->poison_end) {
      set_poison(node, node->poison_start, size);
    }
  }
}

static void synced(struct inode *node, off_t size_before) {
  node->durable = is_poisoned(node) && node->poison_start < size_before ? node->poison_start : size_before;
}

static void sync_failed(struct inode *node, off_t size_before) {
  if (size_before <= node->durable) return;
  off_t start = node->durable;
  off_t end = size_before;
  if (is_poisoned(node)) {
    if (node->poison_start < start) start = node->poison_start;
    if (node->poison_end > end) end = node->poison_end;
  }
  set_poison(node, start, end);
}

static int is_pending(const char *entry) {
  for (size_t i = 0; i < pending_count; i++) {
    if (strcmp(pending[i], entry) == 0) return 1;
  }
  return 0;
}

static void add_pending(const char *entry) {
  if (is_pending(entry)) return;
  if (pending_count == pending_cap) {
    size_t cap = pending_cap ? 2 * pending_cap : 32;
    char **grown = realloc(pending, cap * sizeof *grown);
    if (grown == NULL) return;
    pending = grown;
    pending_cap = cap;
  }
  char *copy = strdup(entry);
  if (copy) pending[pending_count++] = copy;
}

static void remove_pending_at(size_t i) {
  free(pending[i]);
  pending[i] = pending[--pending_count];
}

static void remove_pending(const char *entry) {
  for (size_t i = 0; i < pending_count; i++) {
    if (strcmp(pending[i], entry) == 0) {
      remove_pending_at(i);
      return;
    }
  }
}

/* An fsync of directory `dir` made the entries created in it durable. */
static void dir_synced(const char *dir) {
  char parent[PATH_MAX];
  for (size_t i = 0; i < pending_count;) {
    if (parent_of(pending[i], parent) == 0 && strcmp(parent, dir) == 0) {
      remove_pending_at(i);
    } else {
      i++;
    }
  }
}

/* Entry `abs` (lexical) was created (`created`) or removed. */
static void entry_changed(const char *abs, int created) {
  char canon[PATH_MAX];
  if (canonical(abs, canon) != 0) return;
  pthread_mutex_lock(&lock);
  if (created) {
    add_pending(canon);
  } else {
    remove_pending(canon);
  }
  pthread_mutex_unlock(&lock);
}

static void entry_created(const char *abs) { entry_changed(abs, 1); }

/* ---- set-up ---- */

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)

static void set_root_locked(const char *path) {
  root[0] = root_real[0] = 0;
  if (path == NULL || path[0] == 0) return;
  if (resolve(AT_FDCWD, path, root) != 0) {
    root[0] = 0;
    return;
  }
  char real[PATH_MAX];
  if (realpath(root, real) != NULL) snprintf(root_real, sizeof root_real, "%s", real);
}

static void init_once(void) {
  RESOLVE(open);
  RESOLVE(open64);
  RESOLVE(openat);
  RESOLVE(openat64);
  RESOLVE(creat);
  RESOLVE(creat64);
  RESOLVE(__open_2);
  RESOLVE(__open64_2);
  RESOLVE(__openat_2);
  RESOLVE(__openat64_2);
  RESOLVE(read);
  RESOLVE(readv);
  RESOLVE(pread);
  RESOLVE(pread64);
  RESOLVE(write);
  RESOLVE(writev);
  RESOLVE(pwrite);
  RESOLVE(pwrite64);
  RESOLVE(pwritev);
  RESOLVE(pwritev64);
  RESOLVE(pwritev2);
  RESOLVE(pwritev64v2);
  RESOLVE(fsync);
  RESOLVE(fdatasync);
  RESOLVE(syncfs);
  RESOLVE(rename);
  RESOLVE(renameat);
  RESOLVE(renameat2);
  RESOLVE(unlink);
  RESOLVE(unlinkat);
  RESOLVE(rmdir);
  RESOLVE(ftruncate);
  RESOLVE(ftruncate64);
  RESOLVE(truncate);
  RESOLVE(truncate64);
  RESOLVE(mkdir);
  RESOLVE(mkdirat);
  RESOLVE(close);
  RESOLVE(dup2);
  RESOLVE(dup3);
  const char *log = getenv("FAULTFS_LOG");
  logging = log != NULL && log[0] != 0 && strcmp(log, "0") != 0;
  set_root_locked(getenv("FAULTFS_ROOT"));
  const char *spec = getenv("FAULTFS");
  if (parse_spec(spec, rules, &rule_count) != 0) {
    say("faultfs: malformed FAULTFS spec \"%s\"\n", spec);
    abort();
  }
  if (logging) say("faultfs: loaded, root \"%s\", %d rule(s)\n", root, rule_count);
}

static void init(void) { pthread_once(&once, init_once); }

__attribute__((constructor)) static void faultfs_constructor(void) { init(); }

/* ---- the exported control functions ---- */

/* Replaces the rules with `spec` (see the top of this file); 0, or -1 with
 * errno EINVAL for a malformed spec (the rules stay as they were). NULL or
 * "" removes every rule. */
EXPORT int faultfs_set(const char *spec) {
  init();
  struct rule parsed[MAX_RULES];
  int count;
  if (parse_spec(spec, parsed, &count) != 0) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock(&lock);
  memcpy(rules, parsed, sizeof parsed);
  rule_count = count;
  pthread_mutex_unlock(&lock);
  if (logging) say("faultfs: rules \"%s\"\n", spec ? spec : "");
  return 0;
}

/* Removes every rule. */
EXPORT void faultfs_clear(void) { faultfs_set(NULL); }

/* Sets the root (NULL or "" for none: nothing is counted or failed). */
EXPORT int faultfs_set_root(const char *path) {
  init();
  pthread_mutex_lock(&lock);
  set_root_locked(path);
  int ok = path == NULL || path[0] == 0 || root[0] != 0;
  pthread_mutex_unlock(&lock);
  return ok ? 0 : -1;
}

static long sum_counter(const long *counter, const char *ops_text) {
  unsigned ops;
  if (ops_text == NULL || parse_ops(ops_text, strlen(ops_text), &ops) != 0) return -1;
  long total = 0;
  pthread_mutex_lock(&lock);
  for (int op = 0; op < OP_COUNT; op++) {
    if (ops & (1u << op)) total += counter[op];
  }
  pthread_mutex_unlock(&lock);
  return total;
}

/* Calls of `op` ("write", "write|writev", "*") below the root that a rule
 * failed, since load or faultfs_reset_counters(); -1 for an unknown op. */
EXPORT long faultfs_hits(const char *op) {
  init();
  return sum_counter(hits, op);
}

/* Calls of `op` below the root (failed or not). */
EXPORT long faultfs_calls(const char *op) {
  init();
  return sum_counter(calls, op);
}

EXPORT void faultfs_reset_counters(void) {
  init();
  pthread_mutex_lock(&lock);
  memset(calls, 0, sizeof calls);
  memset(hits, 0, sizeof hits);
  pthread_mutex_unlock(&lock);
}

/* Bytes of the regular file at `path` that are not durable: its size minus
 * its durable prefix (a poisoned range keeps that prefix short until it is
 * cut off or written again). A file faultfs never saw counts as wholly
 * unsynced. -1 when `path` cannot be stat'ed or is no regular file. */
EXPORT long long faultfs_unsynced_bytes(const char *path) {
  init();
  struct stat st;
  if (path == NULL || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  pthread_mutex_lock(&lock);
  struct inode *node = find_inode(st.st_dev, st.st_ino);
  off_t durable = node ? node->durable : 0;
  if (node && is_poisoned(node) && node->poison_start < durable) durable = node->poison_start;
  pthread_mutex_unlock(&lock);
  return st.st_size > durable ? (long long)(st.st_size - durable) : 0;
}

/* 1 when the directory entry `path` (a file, directory or rename target
 * created below the root) is not yet durable, 0 when it is, -1 when the
 * path does not resolve. */
EXPORT int faultfs_entry_dirty(const char *path) {
  init();
  char abs[PATH_MAX], canon[PATH_MAX];
  if (resolve(AT_FDCWD, path, abs) != 0 || canonical(abs, canon) != 0) return -1;
  pthread_mutex_lock(&lock);
  int dirty = is_pending(canon);
  pthread_mutex_unlock(&lock);
  return dirty;
}

/* 1 when some entry created in directory `path` is not yet durable, 0 when
 * none is, -1 when `path` does not resolve. */
EXPORT int faultfs_dir_dirty(const char *path) {
  init();
  char real[PATH_MAX], parent[PATH_MAX];
  if (path == NULL || realpath(path, real) == NULL) return -1;
  pthread_mutex_lock(&lock);
  int dirty = 0;
  for (size_t i = 0; i < pending_count; i++) {
    dirty |= parent_of(pending[i], parent) == 0 && strcmp(parent, real) == 0;
  }
  pthread_mutex_unlock(&lock);
  return dirty;
}

/* ---- open ---- */

enum open_kind { K_OPEN, K_OPEN64, K_OPENAT, K_OPENAT64, K_CREAT, K_CREAT64, K_OPEN_2, K_OPEN64_2, K_OPENAT_2, K_OPENAT64_2 };

static int call_open(enum open_kind kind, int dirfd, const char *path, int flags, mode_t mode) {
  switch (kind) {
    case K_OPEN: return real_open(path, flags, mode);
    case K_OPEN64: return real_open64(path, flags, mode);
    case K_OPENAT: return real_openat(dirfd, path, flags, mode);
    case K_OPENAT64: return real_openat64(dirfd, path, flags, mode);
    case K_CREAT: return real_creat(path, mode);
    case K_CREAT64: return real_creat64(path, mode);
    case K_OPEN_2: return real___open_2(path, flags);
    case K_OPEN64_2: return real___open64_2(path, flags);
    case K_OPENAT_2: return real___openat_2(dirfd, path, flags);
    case K_OPENAT64_2: return real___openat64_2(dirfd, path, flags);
  }
  errno = ENOSYS;
  return -1;
}

/* Records a descriptor just opened on `abs` (the absolute path as given,
 * NULL when unknown), for every path: the table answers "below the root?"
 * for later calls on it by the path it was opened with, so a file opened
 * through another path to it (e.g. /proc/self/root/ROOT/...) is outside
 * the root. */
static void track_open(int fd, const char *abs, int under, int created) {
  char path[PATH_MAX];
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || fd_link(fd, path) != 0) return;
  char *copy = strdup(abs ? abs : path);
  pthread_mutex_lock(&lock);
  if (fd < FD_MAX) {
    free(fds[fd].path);
    fds[fd].path = copy;
    fds[fd].dev = st.st_dev;
    fds[fd].ino = st.st_ino;
    copy = NULL;
  }
  if (under && S_ISREG(st.st_mode)) {
    struct inode *known = find_inode(st.st_dev, st.st_ino);
    struct inode *node = get_inode(st.st_dev, st.st_ino, created ? 0 : st.st_size);
    if (node) {
      if (known && created) {
        /* A new file on a recycled inode number. */
        node->durable = 0;
        set_poison(node, 0, 0);
        node->pending_error = 0;
      }
      cut(node, st.st_size);
      set_inode_path(node, path);
    }
  }
  pthread_mutex_unlock(&lock);
  free(copy);
}

static int open_common(enum open_kind kind, int dirfd, const char *path, int flags, mode_t mode) {
  init();
  char abs[PATH_MAX];
  struct decision d = {0, 0, 0, -1};
  int have = resolve(kind == K_OPENAT || kind == K_OPENAT64 || kind == K_OPENAT_2 || kind == K_OPENAT64_2 ? dirfd
                                                                                                        : AT_FDCWD,
                     path, abs) == 0;
  if (have) d = decide(OP_OPEN, abs, NULL);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  int creating = kind == K_CREAT || kind == K_CREAT64 || (flags & O_CREAT);
  int existed = 1;
  if (d.under && creating) {
    struct stat st;
    existed = stat(abs, &st) == 0;
  }
  int fd = call_open(kind, dirfd, path, flags, mode);
  int saved = errno;
  if (fd >= 0) {
    track_open(fd, have ? abs : NULL, d.under, !existed);
    if (d.under && !existed) entry_created(abs);
  }
  errno = saved;
  return fd;
}

static mode_t mode_arg(int flags, va_list args) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(args, int) : 0;
}

EXPORT int open(const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  return open_common(K_OPEN, AT_FDCWD, path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  return open_common(K_OPEN64, AT_FDCWD, path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  return open_common(K_OPENAT, dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  return open_common(K_OPENAT64, dirfd, path, flags, mode);
}

EXPORT int creat(const char *path, mode_t mode) {
  return open_common(K_CREAT, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

EXPORT int creat64(const char *path, mode_t mode) {
  return open_common(K_CREAT64, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

EXPORT int __open_2(const char *path, int flags) { return open_common(K_OPEN_2, AT_FDCWD, path, flags, 0); }
EXPORT int __open64_2(const char *path, int flags) { return open_common(K_OPEN64_2, AT_FDCWD, path, flags, 0); }
EXPORT int __openat_2(int dirfd, const char *path, int flags) {
  return open_common(K_OPENAT_2, dirfd, path, flags, 0);
}
EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
  return open_common(K_OPENAT64_2, dirfd, path, flags, 0);
}

/* ---- read ---- */

EXPORT ssize_t read(int fd, void *buf, size_t n) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(OP_READ, fd, path);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  return real_read(fd, buf, n);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(OP_READ, fd, path);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  return real_readv(fd, iov, n);
}

EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t offset) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(OP_READ, fd, path);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  return real_pread(fd, buf, n, offset);
}

EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t offset) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(OP_READ, fd, path);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  return real_pread64(fd, buf, n, offset);
}

/* ---- write ---- */

/* Where a write()/writev() on `fd` lands; -1 when appending (appends land
 * at the end, past any poisoned range) or unknown. Only asked while some
 * file is poisoned. */
static off_t write_offset(int fd, int under) {
  if (!under) return -1;
  pthread_mutex_lock(&lock);
  int any = poisoned_files > 0;
  pthread_mutex_unlock(&lock);
  if (!any) return -1;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_APPEND)) return -1;
  return lseek(fd, 0, SEEK_CUR);
}

/* Bytes [offset, offset + n) of `fd` were written again: a poisoned range
 * they cover is whole again (waiting for an fsync). */
static void rewritten(int fd, off_t offset, ssize_t n) {
  struct stat st;
  if (offset < 0 || n <= 0 || fstat(fd, &st) != 0) return;
  pthread_mutex_lock(&lock);
  struct inode *node = find_inode(st.st_dev, st.st_ino);
  if (node && is_poisoned(node)) {
    off_t end = offset + n;
    if (offset <= node->poison_start && end >= node->poison_end) {
      set_poison(node, 0, 0);
    } else if (offset <= node->poison_start && end > node->poison_start) {
      set_poison(node, end, node->poison_end);
    } else if (offset < node->poison_end && end >= node->poison_end) {
      set_poison(node, node->poison_start, offset);
    }
  }
  pthread_mutex_unlock(&lock);
}

/* The first `limit` bytes of `iov` as a new vector in `out` (at most
 * `n` entries); returns its length. */
static int iov_prefix(const struct iovec *iov, int n, size_t limit, struct iovec *out) {
  int k = 0;
  for (int i = 0; i < n && limit > 0; i++) {
    size_t take = iov[i].iov_len < limit ? iov[i].iov_len : limit;
    out[k].iov_base = iov[i].iov_base;
    out[k].iov_len = take;
    limit -= take;
    k++;
  }
  return k;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(OP_WRITE, fd, path);
  if (d.fail) {
    if (d.partial > 0) {
      ssize_t ignored = real_write(fd, buf, (size_t)d.partial < n ? (size_t)d.partial : n);
      (void)ignored;
    }
    errno = d.error;
    return -1;
  }
  off_t offset = write_offset(fd, d.under);
  ssize_t r = real_write(fd, buf, n);
  int saved = errno;
  if (offset >= 0) rewritten(fd, offset, r);
  errno = saved;
  return r;
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(OP_WRITEV, fd, path);
  if (d.fail) {
    if (d.partial > 0 && n > 0 && n <= IOV_MAX) {
      struct iovec prefix[IOV_MAX];
      int k = iov_prefix(iov, n, (size_t)d.partial, prefix);
      ssize_t ignored = real_writev(fd, prefix, k);
      (void)ignored;
    }
    errno = d.error;
    return -1;
  }
  off_t offset = write_offset(fd, d.under);
  ssize_t r = real_writev(fd, iov, n);
  int saved = errno;
  if (offset >= 0) rewritten(fd, offset, r);
  errno = saved;
  return r;
}

/* pwrite-family: `kind` 0 pwrite, 1 pwrite64, 2 pwritev, 3 pwritev64,
 * 4 pwritev2, 5 pwritev64v2. */
static ssize_t pwrite_common(int kind, int fd, const void *buf, size_t n, const struct iovec *iov, int iovcnt,
                             off64_t offset, int flags) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(OP_PWRITE, fd, path);
  struct iovec prefix[IOV_MAX];
  if (d.fail) {
    if (d.partial > 0) {
      if (kind < 2) {
        n = (size_t)d.partial < n ? (size_t)d.partial : n;
      } else if (iovcnt > 0 && iovcnt <= IOV_MAX) {
        iovcnt = iov_prefix(iov, iovcnt, (size_t)d.partial, prefix);
        iov = prefix;
      } else {
        iovcnt = 0;
      }
    } else {
      n = 0;
      iovcnt = 0;
    }
  }
  ssize_t r = -1;
  if (!d.fail || n > 0 || iovcnt > 0) {
    switch (kind) {
      case 0: r = real_pwrite(fd, buf, n, (off_t)offset); break;
      case 1: r = real_pwrite64(fd, buf, n, offset); break;
      case 2: r = real_pwritev(fd, iov, iovcnt, (off_t)offset); break;
      case 3: r = real_pwritev64(fd, iov, iovcnt, offset); break;
      case 4: r = real_pwritev2 ? real_pwritev2(fd, iov, iovcnt, (off_t)offset, flags) : (errno = ENOSYS, -1); break;
      default: r = real_pwritev64v2 ? real_pwritev64v2(fd, iov, iovcnt, offset, flags) : (errno = ENOSYS, -1); break;
    }
  }
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  int saved = errno;
  if (d.under && offset >= 0) rewritten(fd, (off_t)offset, r);
  errno = saved;
  return r;
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset) {
  return pwrite_common(0, fd, buf, n, NULL, 0, offset, 0);
}
EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t offset) {
  return pwrite_common(1, fd, buf, n, NULL, 0, offset, 0);
}
EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t offset) {
  return pwrite_common(2, fd, NULL, 0, iov, n, offset, 0);
}
EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int n, off64_t offset) {
  return pwrite_common(3, fd, NULL, 0, iov, n, offset, 0);
}
EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t offset, int flags) {
  return pwrite_common(4, fd, NULL, 0, iov, n, offset < 0 ? -1 : offset, flags);
}
EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int n, off64_t offset, int flags) {
  return pwrite_common(5, fd, NULL, 0, iov, n, offset < 0 ? -1 : offset, flags);
}

/* ---- fsync, fdatasync, syncfs ---- */

static int sync_common(int op, int fd) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(op, fd, path);
  struct stat st;
  int known = d.under && fstat(fd, &st) == 0;
  char canon[PATH_MAX];
  int pending = 0;
  if (known && S_ISREG(st.st_mode) && !d.fail) {
    pthread_mutex_lock(&lock);
    struct inode *node = find_inode(st.st_dev, st.st_ino);
    if (node) {
      pending = node->pending_error;
      node->pending_error = 0;
    }
    pthread_mutex_unlock(&lock);
    if (pending) log_fault(op, path, pending);
  }
  int r;
  if (d.fail || pending) {
    r = -1;
  } else {
    r = op == OP_FSYNC ? real_fsync(fd) : real_fdatasync(fd);
  }
  int saved = d.fail ? d.error : pending ? pending : errno;
  if (known) {
    pthread_mutex_lock(&lock);
    if (S_ISREG(st.st_mode)) {
      struct inode *node = get_inode(st.st_dev, st.st_ino, 0);
      /* A syncfs that failed while this call waited hit this file's pages
       * too: Linux reports that to the fsync waiting on the same writeback,
       * so this call fails with it rather than the next one. */
      if (node && r == 0 && node->pending_error) {
        r = -1;
        saved = node->pending_error;
        node->pending_error = 0;
      }
      if (node) {
        if (node->path == NULL && fd_link(fd, canon) == 0) set_inode_path(node, canon);
        if (r == 0) {
          synced(node, st.st_size);
        } else {
          sync_failed(node, st.st_size);
        }
      }
    } else if (S_ISDIR(st.st_mode) && r == 0 && realpath(path, canon) != NULL) {
      dir_synced(canon);
    }
    pthread_mutex_unlock(&lock);
  }
  errno = saved;
  return r;
}

EXPORT int fsync(int fd) { return sync_common(OP_FSYNC, fd); }
EXPORT int fdatasync(int fd) { return sync_common(OP_FDATASYNC, fd); }

/* syncfs on any descriptor is taken as syncing every file below the root
 * (tests keep the root on one file system). */
EXPORT int syncfs(int fd) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(OP_SYNCFS, fd, path);
  /* Sizes and pending entries before the call: what it makes durable. */
  pthread_mutex_lock(&lock);
  size_t n = inode_count;
  off_t *sizes = malloc((n ? n : 1) * sizeof *sizes);
  size_t dirty_before = pending_count;
  char **dirty = malloc((dirty_before ? dirty_before : 1) * sizeof *dirty);
  for (size_t i = 0; sizes && i < n; i++) {
    struct stat st;
    const struct inode *node = &inodes[i];
    sizes[i] = node->path && stat(node->path, &st) == 0 && st.st_dev == node->dev && st.st_ino == node->ino
                   ? st.st_size
                   : -1;
  }
  for (size_t i = 0; dirty && i < dirty_before; i++) dirty[i] = strdup(pending[i]);
  pthread_mutex_unlock(&lock);
  int r;
  if (d.fail) {
    r = -1;
  } else {
    r = real_syncfs ? real_syncfs(fd) : (errno = ENOSYS, -1);
  }
  int saved = d.fail ? d.error : errno;
  pthread_mutex_lock(&lock);
  for (size_t i = 0; sizes && i < n; i++) {
    if (sizes[i] < 0) continue;
    if (r == 0) {
      synced(&inodes[i], sizes[i]);
    } else if (sizes[i] > inodes[i].durable) {
      sync_failed(&inodes[i], sizes[i]);
      inodes[i].pending_error = saved;
    }
  }
  for (size_t i = 0; dirty && i < dirty_before; i++) {
    if (r == 0 && dirty[i]) remove_pending(dirty[i]);
    free(dirty[i]);
  }
  pthread_mutex_unlock(&lock);
  free(sizes);
  free(dirty);
  errno = saved;
  return r;
}

/* ---- rename, unlink, rmdir, mkdir ---- */

static int rename_common(int kind, int olddir, const char *old, int newdir, const char *new, unsigned flags) {
  init();
  char abs_old[PATH_MAX], abs_new[PATH_MAX];
  int have_old = resolve(olddir, old, abs_old) == 0;
  int have_new = resolve(newdir, new, abs_new) == 0;
  struct decision d = decide(OP_RENAME, have_old ? abs_old : NULL, have_new ? abs_new : NULL);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  char canon_old[PATH_MAX];
  int have_canon_old = d.under && have_old && canonical(abs_old, canon_old) == 0;
  /* A target replaced by the rename loses its last link. */
  struct stat target, source;
  int replaced = d.under && have_new && last_link(abs_new, &target) &&
                 !(have_old && lstat(abs_old, &source) == 0 && source.st_dev == target.st_dev &&
                   source.st_ino == target.st_ino);
  int r;
  switch (kind) {
    case 0: r = real_rename(old, new); break;
    case 1: r = real_renameat(olddir, old, newdir, new); break;
    default: r = real_renameat2 ? real_renameat2(olddir, old, newdir, new, flags) : (errno = ENOSYS, -1); break;
  }
  int saved = errno;
  if (r == 0 && d.under && have_new) {
    char canon[PATH_MAX];
    struct stat st;
    if (canonical(abs_new, canon) == 0 && stat(canon, &st) == 0) {
      pthread_mutex_lock(&lock);
      struct inode *node = find_inode(st.st_dev, st.st_ino);
      if (node) set_inode_path(node, canon);
      pthread_mutex_unlock(&lock);
    }
    if (have_canon_old) {
      pthread_mutex_lock(&lock);
      remove_pending(canon_old);
      pthread_mutex_unlock(&lock);
    }
    entry_created(abs_new);
    if (replaced) forget_inode(&target);
  }
  errno = saved;
  return r;
}

EXPORT int rename(const char *old, const char *new) { return rename_common(0, AT_FDCWD, old, AT_FDCWD, new, 0); }
EXPORT int renameat(int olddir, const char *old, int newdir, const char *new) {
  return rename_common(1, olddir, old, newdir, new, 0);
}
EXPORT int renameat2(int olddir, const char *old, int newdir, const char *new, unsigned int flags) {
  return rename_common(2, olddir, old, newdir, new, flags);
}

/* unlink (kind 0), unlinkat (1), rmdir (2). */
static int remove_common(int kind, int dirfd, const char *path, int flags) {
  init();
  char abs[PATH_MAX];
  int op = kind == 2 || (kind == 1 && (flags & AT_REMOVEDIR)) ? OP_RMDIR : OP_UNLINK;
  struct decision d = {0, 0, 0, -1};
  int have = resolve(kind == 1 ? dirfd : AT_FDCWD, path, abs) == 0;
  if (have) d = decide(op, abs, NULL);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  struct stat st;
  int dies = d.under && op == OP_UNLINK && last_link(abs, &st);
  int r = kind == 0 ? real_unlink(path) : kind == 1 ? real_unlinkat(dirfd, path, flags) : real_rmdir(path);
  int saved = errno;
  if (r == 0 && d.under) entry_changed(abs, 0);
  if (r == 0 && dies) forget_inode(&st);
  errno = saved;
  return r;
}

EXPORT int unlink(const char *path) { return remove_common(0, AT_FDCWD, path, 0); }
EXPORT int unlinkat(int dirfd, const char *path, int flags) { return remove_common(1, dirfd, path, flags); }
EXPORT int rmdir(const char *path) { return remove_common(2, AT_FDCWD, path, 0); }

static int mkdir_common(int dirfd, const char *path, mode_t mode, int at) {
  init();
  char abs[PATH_MAX];
  struct decision d = {0, 0, 0, -1};
  int have = resolve(dirfd, path, abs) == 0;
  if (have) d = decide(OP_MKDIR, abs, NULL);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  int r = at ? real_mkdirat(dirfd, path, mode) : real_mkdir(path, mode);
  int saved = errno;
  if (r == 0 && d.under) entry_created(abs);
  errno = saved;
  return r;
}

EXPORT int mkdir(const char *path, mode_t mode) { return mkdir_common(AT_FDCWD, path, mode, 0); }
EXPORT int mkdirat(int dirfd, const char *path, mode_t mode) { return mkdir_common(dirfd, path, mode, 1); }

/* ---- ftruncate, truncate ---- */

static void truncated(dev_t dev, ino_t ino, off_t size) {
  pthread_mutex_lock(&lock);
  struct inode *node = find_inode(dev, ino);
  if (node) cut(node, size);
  pthread_mutex_unlock(&lock);
}

static int ftruncate_common(int fd, off64_t len, int is64) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(OP_FTRUNCATE, fd, path);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  int r = is64 ? real_ftruncate64(fd, len) : real_ftruncate(fd, (off_t)len);
  int saved = errno;
  struct stat st;
  if (r == 0 && d.under && fstat(fd, &st) == 0) truncated(st.st_dev, st.st_ino, st.st_size);
  errno = saved;
  return r;
}

EXPORT int ftruncate(int fd, off_t len) { return ftruncate_common(fd, len, 0); }
EXPORT int ftruncate64(int fd, off64_t len) { return ftruncate_common(fd, len, 1); }

static int truncate_common(const char *path, off64_t len, int is64) {
  init();
  char abs[PATH_MAX];
  struct decision d = {0, 0, 0, -1};
  if (resolve(AT_FDCWD, path, abs) == 0) d = decide(OP_FTRUNCATE, abs, NULL);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  int r = is64 ? real_truncate64(path, len) : real_truncate(path, (off_t)len);
  int saved = errno;
  struct stat st;
  if (r == 0 && d.under && stat(path, &st) == 0) truncated(st.st_dev, st.st_ino, st.st_size);
  errno = saved;
  return r;
}

EXPORT int truncate(const char *path, off_t len) { return truncate_common(path, len, 0); }
EXPORT int truncate64(const char *path, off64_t len) { return truncate_common(path, len, 1); }

/* ---- close, dup2, dup3 ---- */

static void forget(int fd) {
  if (fd < 0 || fd >= FD_MAX) return;
  pthread_mutex_lock(&lock);
  char *path = fds[fd].path;
  fds[fd].path = NULL;
  pthread_mutex_unlock(&lock);
  free(path);
}

/* A failed close still closes the descriptor, as Linux's does. */
EXPORT int close(int fd) {
  init();
  char path[PATH_MAX];
  struct decision d = decide_fd(OP_CLOSE, fd, path);
  forget(fd);
  int r = real_close(fd);
  if (d.fail) {
    errno = d.error;
    return -1;
  }
  return r;
}

EXPORT int dup2(int old, int new) {
  init();
  if (old != new) forget(new);
  return real_dup2(old, new);
}

EXPORT int dup3(int old, int new, int flags) {
  init();
  if (old != new) forget(new);
  return real_dup3(old, new, flags);
}

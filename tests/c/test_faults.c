/* The durability contract under failing system calls, through the C ABI.
 *
 * Runs with tests/faultfs/faultfs.c preloaded (ctest sets LD_PRELOAD, see
 * CMakeLists.txt) and drives it through its exported functions, found with
 * dlsym(RTLD_DEFAULT): faults apply below this test's temporary root only.
 *
 * Every call that may block runs under alarm(): a call that does not
 * return within BOUND_SECONDS fails the test (it must never hang). Checks
 * do not stop at the first failure: each failed EXPECT is printed and the
 * test fails at the end, so one run lists every broken part of the
 * contract.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

enum { BOUND_SECONDS = 10, HOSTS = 3, MAX_SAMPLES = 2100 };
static const int64_t T0 = 1700000000;

/* ---- faultfs ---- */

static int (*ff_set)(const char *);
static void (*ff_clear)(void);
static int (*ff_set_root)(const char *);
static long (*ff_hits)(const char *);
static long long (*ff_unsynced)(const char *);

static void *symbol(const char *name) {
  void *p = dlsym(RTLD_DEFAULT, name);
  if (p == NULL) {
    fprintf(stderr, "test_faults: %s not found: run with LD_PRELOAD=libfaultfs.so (ctest does)\n", name);
    exit(1);
  }
  return p;
}

/* Function pointers from dlsym without the object-to-function pointer
 * cast ISO C forbids. */
#define LOAD(var, name)                 \
  do {                                  \
    void *p_ = symbol(name);            \
    memcpy(&(var), &p_, sizeof(var));   \
  } while (0)

static void load_faultfs(void) {
  LOAD(ff_set, "faultfs_set");
  LOAD(ff_clear, "faultfs_clear");
  LOAD(ff_set_root, "faultfs_set_root");
  LOAD(ff_hits, "faultfs_hits");
  LOAD(ff_unsynced, "faultfs_unsynced_bytes");
}

/* ---- checks and the watchdog ---- */

static int failures;
static const char *scenario = "";

#define EXPECT(cond, ...)                                                                   \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      fprintf(stderr, "%s:%d: [%s] FAILED: %s: ", __FILE__, __LINE__, scenario, #cond);     \
      fprintf(stderr, __VA_ARGS__);                                                         \
      fputc('\n', stderr);                                                                  \
      failures++;                                                                           \
    }                                                                                       \
  } while (0)

static const char *volatile current_call = "";

/* Async-signal-safe: raw write(2) (not through faultfs, whose lock the
 * interrupted thread may hold). */
static void say_raw(const char *text) { (void)syscall(SYS_write, 2, text, strlen(text)); }

static void on_alarm(int sig) {
  (void)sig;
  say_raw("test_faults: [");
  say_raw(scenario);
  say_raw("] FAILED: ");
  say_raw(current_call);
  say_raw(" did not return within 10 s: it hangs\n");
  _exit(1);
}

static ccwal_result bounded_result;
/* Runs `call` (a ccwal_result expression) under the watchdog. */
#define BOUNDED(name, call) \
  (current_call = (name), alarm(BOUND_SECONDS), bounded_result = (call), alarm(0), bounded_result)

/* ---- samples ---- */

static double value_of(int host, int64_t i) { return (double)i * 0.1 + host * 1000.0 + 0.01; }

/* accepted[h][i]: sample i (ts T0 + i) of host h was accepted. */
static unsigned char accepted[HOSTS][MAX_SAMPLES];
static int64_t next_sample[HOSTS];

static void reset_samples(void) {
  memset(accepted, 0, sizeof accepted);
  memset(next_sample, 0, sizeof next_sample);
}

static char host_name[HOSTS][8];

/* Appends sample `next_sample[h]` of host h; returns the result. */
static ccwal_result append(ccwal_store *store, int h, ccwal_error **error) {
  int64_t i = next_sample[h]++;
  ccwal_result r = BOUNDED("ccwal_store_append",
                           ccwal_store_append(store, STR("c"), (const uint8_t *)host_name[h], strlen(host_name[h]),
                                              STR("m"), NULL, 0, value_of(h, i), T0 + i, error));
  if (r == CCWAL_OK) accepted[h][i] = 1;
  return r;
}

/* Appends `n` samples to every host, expecting each to be accepted. */
static void append_all(ccwal_store *store, int n) {
  for (int k = 0; k < n; k++) {
    for (int h = 0; h < HOSTS; h++) {
      ccwal_error *error = NULL;
      ccwal_result r = append(store, h, &error);
      EXPECT(r == CCWAL_OK, "append refused with %s", ccwal_result_description(r));
      ccwal_error_free(error);
    }
  }
}

/* Checks that `r` is CCWAL_IO with `errno_wanted` in the error detail. */
static void expect_io(const char *what, ccwal_result r, ccwal_error *error, int errno_wanted) {
  EXPECT(r == CCWAL_IO, "%s returned %s, expected CCWAL_IO", what, ccwal_result_description(r));
  if (r != CCWAL_OK) {
    EXPECT(error != NULL && ccwal_error_os_code(error) == errno_wanted, "%s: os code %d, expected %d", what,
           error ? (int)ccwal_error_os_code(error) : -1, errno_wanted);
    const uint8_t *message = NULL;
    size_t len = 0;
    EXPECT(error != NULL && ccwal_error_message(error, &message, &len) == CCWAL_OK && len > 0,
           "%s: an error message", what);
    /* The error names the WAL file that failed, as a path of its own. */
    const uint8_t *path = NULL;
    size_t path_len = 0;
    const char *suffix = "/current.wal";
    EXPECT(error != NULL && ccwal_error_path(error, &path, &path_len) == CCWAL_OK &&
               path_len > strlen(suffix) && path[path_len] == 0 &&
               strcmp((const char *)path + path_len - strlen(suffix), suffix) == 0,
           "%s: the error's path is a WAL file", what);
  }
  ccwal_error_free(error);
}

static ccwal_store *open_with(const char *root, void (*configure)(ccwal_options *)) {
  ccwal_options *options = NULL;
  ccwal_store *store = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_options_new(STR(root), &options, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_shards(options, 1, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_flush_interval_ms(options, 20, NULL));
  if (configure) configure(options);
  CHECK_RESULT(CCWAL_OK, ccwal_store_open(options, &store, NULL));
  ccwal_options_free(options);
  return store;
}

/* Restores `root` and checks that it holds exactly the accepted samples,
 * each with its value as float32. */
static void check_restore(const char *root) {
  test_batch config = {0};
  metrics_add(&config, "m", 1);
  ccwal_restore_result *result = NULL;
  ccwal_result r = BOUNDED("ccwal_restore", ccwal_restore(STR(root), 0, config.bytes, config.len, NULL, &result, NULL));
  batch_free(&config);
  EXPECT(r == CCWAL_OK, "restore: %s", ccwal_result_description(r));
  if (r != CCWAL_OK) return;
  static unsigned char seen[HOSTS][MAX_SAMPLES];
  memset(seen, 0, sizeof seen);
  long wrong = 0, unexpected = 0, missing = 0, total = 0;
  size_t hosts = 0;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host_count(result, &hosts, NULL));
  for (size_t hi = 0; hi < hosts; hi++) {
    ccwal_restored_host host = {.struct_size = sizeof(ccwal_restored_host)};
    CHECK_RESULT(CCWAL_OK, ccwal_restore_host(result, hi, &host, NULL));
    EXPECT(host.error_len == 0, "restore: host error %.*s", (int)host.error_len, (const char *)host.error);
    int h = -1;
    for (int k = 0; k < HOSTS; k++) {
      if (host.host_len == strlen(host_name[k]) && memcmp(host.host, host_name[k], host.host_len) == 0) h = k;
    }
    EXPECT(h >= 0, "restore: an unknown host %.*s", (int)host.host_len, (const char *)host.host);
    if (h < 0) continue;
    ccwal_restored_level level = {.struct_size = sizeof(ccwal_restored_level)};
    CHECK_RESULT(CCWAL_OK, ccwal_restore_level(result, hi, 0, &level, NULL));
    if (level.metric_count == 0) continue;
    ccwal_restored_metric metric = {.struct_size = sizeof(ccwal_restored_metric)};
    CHECK_RESULT(CCWAL_OK, ccwal_restore_metric(result, hi, 0, 0, &metric, NULL));
    for (size_t c = 0; c < metric.chunk_count; c++) {
      ccwal_chunk chunk = {.struct_size = sizeof(ccwal_chunk)};
      CHECK_RESULT(CCWAL_OK, ccwal_restore_chunk(result, hi, 0, 0, c, &chunk, NULL));
      for (size_t k = 0; k < chunk.len; k++) {
        if (chunk.values[k] != chunk.values[k]) continue; /* NaN: no sample */
        int64_t i = chunk.start + (int64_t)k * chunk.frequency - T0;
        if (i < 0 || i >= MAX_SAMPLES || !accepted[h][i]) {
          unexpected++;
          continue;
        }
        seen[h][i] = 1;
        if (chunk.values[k] != (double)(float)value_of(h, i)) wrong++;
      }
    }
  }
  for (int h = 0; h < HOSTS; h++) {
    for (int i = 0; i < MAX_SAMPLES; i++) {
      total += accepted[h][i];
      missing += accepted[h][i] && !seen[h][i];
    }
  }
  EXPECT(missing == 0 && wrong == 0 && unexpected == 0,
         "restore: %ld of %ld accepted samples missing, %ld with a wrong value, %ld never accepted", missing, total,
         wrong, unexpected);
  ccwal_restore_result_free(result);
}

/* Every WAL file's bytes are durable, says faultfs's oracle. */
static void check_durable(const char *root, const char *when) {
  for (int h = 0; h < HOSTS; h++) {
    char path[512];
    snprintf(path, sizeof path, "%s/c/%s/current.wal", root, host_name[h]);
    long long unsynced = ff_unsynced(path);
    EXPECT(unsynced <= 0, "%s: %s has %lld bytes that are not durable", when, path, unsynced);
  }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes the scenario's directory and frees its name. */
static void end_scenario(char *root) {
  ff_clear();
  (void)nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(root);
}

static char *begin_scenario(const char *name) {
  scenario = name;
  reset_samples();
  ff_clear();
  char *root = make_temp_dir();
  CHECK(ff_set_root(root) == 0);
  return root;
}

/* ---- scenarios ---- */

static void durability_none(ccwal_options *o) {
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_durability(o, CCWAL_DURABILITY_NONE, 0, NULL));
}

/* Write errors reach flush and sync as CCWAL_IO with ENOSPC, lose no
 * sample, and the store recovers once they clear. */
static void write_errors(void) {
  char *root = begin_scenario("write errors");
  ccwal_store *store = open_with(root, durability_none);
  append_all(store, 10);
  EXPECT(BOUNDED("sync", ccwal_store_sync(store, NULL)) == CCWAL_OK, "sync before the fault");
  long hits = ff_hits("write|writev");
  CHECK(ff_set("write|writev:ENOSPC") == 0);
  append_all(store, 10);
  test_batch batch = {0};
  int64_t first = next_sample[1];
  for (int k = 0; k < 5; k++) {
    int64_t i = next_sample[1]++;
    batch_add(&batch, "c", host_name[1], "m", NULL, 0, value_of(1, i), T0 + i);
  }
  ccwal_result r = BOUNDED("append_batch", ccwal_store_append_batch(store, batch.bytes, batch.len, NULL));
  EXPECT(r == CCWAL_OK, "append_batch while the queue has room: %s", ccwal_result_description(r));
  for (int64_t i = first; r == CCWAL_OK && i < next_sample[1]; i++) accepted[1][i] = 1;
  batch_free(&batch);
  ccwal_error *error = NULL;
  r = BOUNDED("flush", ccwal_store_flush(store, &error));
  expect_io("flush while writes fail", r, error, ENOSPC);
  error = NULL;
  r = BOUNDED("sync", ccwal_store_sync(store, &error));
  expect_io("sync while writes fail", r, error, ENOSPC);
  EXPECT(ff_hits("write|writev") > hits, "the fault failed some write");
  ff_clear();
  r = BOUNDED("sync", ccwal_store_sync(store, NULL));
  EXPECT(r == CCWAL_OK, "sync after the fault cleared: %s", ccwal_result_description(r));
  check_durable(root, "after the fault cleared");
  r = BOUNDED("close", ccwal_store_close(store, NULL));
  EXPECT(r == CCWAL_OK, "close: %s", ccwal_result_description(r));
  ccwal_store_free(store);
  check_restore(root);
  end_scenario(root);
}

/* One failed fdatasync loses the unsynced bytes (faultfs models Linux):
 * a sync may return CCWAL_OK only once they are written again and synced. */
static void failed_fdatasync(void) {
  char *root = begin_scenario("failed fdatasync");
  ccwal_store *store = open_with(root, durability_none);
  append_all(store, 10);
  long hits = ff_hits("fdatasync");
  CHECK(ff_set("fdatasync:EIO:count=1") == 0);
  ccwal_error *error = NULL;
  ccwal_result r = BOUNDED("sync", ccwal_store_sync(store, &error));
  if (r == CCWAL_OK) {
    check_durable(root, "sync returned CCWAL_OK after a failed fdatasync");
    ccwal_error_free(error);
  } else {
    expect_io("sync with a failing fdatasync", r, error, EIO);
  }
  EXPECT(ff_hits("fdatasync") == hits + 1, "the fault failed one fdatasync");
  r = BOUNDED("sync", ccwal_store_sync(store, NULL));
  EXPECT(r == CCWAL_OK, "the next sync: %s", ccwal_result_description(r));
  check_durable(root, "the next sync");
  r = BOUNDED("close", ccwal_store_close(store, NULL));
  EXPECT(r == CCWAL_OK, "close: %s", ccwal_result_description(r));
  ccwal_store_free(store);
  check_restore(root);
  end_scenario(root);
}

/* ccwal_store_close returns the error of its final write. */
static void close_reports_errors(void) {
  char *root = begin_scenario("close");
  ccwal_store *store = open_with(root, durability_none);
  append_all(store, 5);
  EXPECT(BOUNDED("sync", ccwal_store_sync(store, NULL)) == CCWAL_OK, "sync before the fault");
  CHECK(ff_set("write|writev:ENOSPC") == 0);
  append_all(store, 5);
  ccwal_error *error = NULL;
  ccwal_result r = BOUNDED("close", ccwal_store_close(store, &error));
  expect_io("close whose final write fails", r, error, ENOSPC);
  ff_clear();
  ccwal_store_free(store);
  end_scenario(root);
}

static void reject_small_queue(ccwal_options *o) {
  durability_none(o);
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_queue_capacity(o, 4096, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_backpressure(o, CCWAL_BACKPRESSURE_REJECT, 0, NULL));
}

/* With the disk failing, a full queue refuses appends with
 * CCWAL_QUEUE_FULL; everything accepted is restored. */
static void full_queue(void) {
  char *root = begin_scenario("full queue");
  ccwal_store *store = open_with(root, reject_small_queue);
  append_all(store, 5);
  EXPECT(BOUNDED("sync", ccwal_store_sync(store, NULL)) == CCWAL_OK, "sync before the fault");
  long hits = ff_hits("write|writev");
  CHECK(ff_set("write|writev:ENOSPC") == 0);
  /* First the writer meets the failing disk, then the appends come. */
  append_all(store, 1);
  for (int wait = 0; wait < 600 && ff_hits("write|writev") == hits; wait++) usleep(5000);
  EXPECT(ff_hits("write|writev") > hits, "the writer meets the failing disk within 3 s");
  int refused = 0, other = 0, tried = 0;
  while (tried < 2000 && refused < 3) {
    tried++;
    ccwal_result r = append(store, 0, NULL);
    if (r == CCWAL_QUEUE_FULL) {
      refused++;
    } else if (r != CCWAL_OK) {
      other++;
    }
  }
  EXPECT(refused > 0, "all %d appends (~%d KiB, the queue holds 4 KiB) were accepted while every write failed",
         tried, tried * 32 / 1024);
  EXPECT(other == 0, "%d appends failed with something else than CCWAL_QUEUE_FULL", other);
  ff_clear();
  ccwal_result r = BOUNDED("sync", ccwal_store_sync(store, NULL));
  EXPECT(r == CCWAL_OK, "sync after the fault cleared: %s", ccwal_result_description(r));
  r = BOUNDED("close", ccwal_store_close(store, NULL));
  EXPECT(r == CCWAL_OK, "close: %s", ccwal_result_description(r));
  ccwal_store_free(store);
  check_restore(root);
  end_scenario(root);
}

/* max_open_files above RLIMIT_NOFILE is refused with
 * CCWAL_INVALID_ARGUMENT (by the setter or by ccwal_store_open). Last: it
 * lowers this process's descriptor limit. */
static void descriptor_budget(void) {
  char *root = begin_scenario("descriptor budget");
  struct rlimit limit;
  CHECK(getrlimit(RLIMIT_NOFILE, &limit) == 0);
  limit.rlim_cur = 64;
  CHECK(setrlimit(RLIMIT_NOFILE, &limit) == 0);
  ccwal_options *options = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_options_new(STR(root), &options, NULL));
  ccwal_result set = ccwal_options_set_max_open_files(options, 1000, NULL);
  EXPECT(set == CCWAL_OK || set == CCWAL_INVALID_ARGUMENT, "set_max_open_files: %s", ccwal_result_description(set));
  if (set == CCWAL_OK) {
    ccwal_store *store = NULL;
    ccwal_result r = ccwal_store_open(options, &store, NULL);
    EXPECT(r == CCWAL_INVALID_ARGUMENT, "ccwal_store_open with max_open_files 1000 above RLIMIT_NOFILE 64: %s",
           ccwal_result_description(r));
    ccwal_store_free(store);
  }
  ccwal_options_free(options);
  end_scenario(root);
}

int main(void) {
  load_faultfs();
  for (int h = 0; h < HOSTS; h++) snprintf(host_name[h], sizeof host_name[h], "h%d", h);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_alarm;
  CHECK(sigaction(SIGALRM, &action, NULL) == 0);

  write_errors();
  failed_fdatasync();
  close_reports_errors();
  full_queue();
  descriptor_budget();

  if (failures > 0) {
    fprintf(stderr, "test_faults: %d checks failed\n", failures);
    return 1;
  }
  puts("test_faults: ok");
  return 0;
}

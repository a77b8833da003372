/*
 * ccwal from C in one page: open a store, append a batch of samples, sync,
 * checkpoint, restore, and handle errors.
 *
 *     quickstart [ROOT]      (default: a new directory under /tmp)
 *
 * Build it against an installed ccwal with CMake (see CMakeLists.txt next
 * to this file) or by hand:
 *
 *     cc quickstart.c $(pkg-config --cflags --libs ccwal) -o quickstart
 */
#define _POSIX_C_SOURCE 200809L
#include <ccwal.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints a failed call's code, message and OS error, frees the error, and
 * returns 1; returns 0 for CCWAL_OK. */
static int failed(const char *what, ccwal_result rc, ccwal_error *error) {
  if (rc == CCWAL_OK) {
    return 0;
  }
  const uint8_t *message = NULL;
  size_t len = 0;
  if (error != NULL && ccwal_error_message(error, &message, &len) == CCWAL_OK) {
    fprintf(stderr, "%s: %s (%d): %.*s (errno %d)\n", what,
            ccwal_result_description(rc), (int)rc, (int)len,
            (const char *)message, (int)ccwal_error_os_code(error));
  } else {
    fprintf(stderr, "%s: %s (%d)\n", what, ccwal_result_description(rc),
            (int)rc);
  }
  ccwal_error_free(error);
  return 1;
}

/* Little-endian writers for the batch buffer (the layout is in ccwal.h). */
static uint8_t *put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) {
    *p++ = (uint8_t)(v >> (8 * i));
  }
  return p;
}

static uint8_t *put_name(uint8_t *p, const char *name) {
  size_t len = strlen(name);
  memcpy(p, name, len);
  return p + len;
}

/* One sample of a batch: i64 ts | f64 value | u16 cluster_len |
 * u16 host_len | u16 metric_len | u8 selector_count | names | selectors. */
static uint8_t *put_sample(uint8_t *p, int64_t ts, double value,
                           const char *cluster, const char *host,
                           const char *metric, const char *selector) {
  uint64_t bits;
  memcpy(&bits, &value, sizeof bits);
  p = put_le(p, (uint64_t)ts, 8);
  p = put_le(p, bits, 8);
  p = put_le(p, strlen(cluster), 2);
  p = put_le(p, strlen(host), 2);
  p = put_le(p, strlen(metric), 2);
  p = put_le(p, selector != NULL ? 1 : 0, 1);
  p = put_name(p, cluster);
  p = put_name(p, host);
  p = put_name(p, metric);
  if (selector != NULL) {
    p = put_le(p, strlen(selector), 1);
    p = put_name(p, selector);
  }
  return p;
}

#define FROM 1700000000
#define FREQUENCY 60

int main(int argc, char **argv) {
  char template[] = "/tmp/ccwal-quickstart-XXXXXX";
  const char *root = argc > 1 ? argv[1] : mkdtemp(template);
  if (root == NULL) {
    perror("mkdtemp");
    return 1;
  }
  printf("ccwal %s (header %d.%d.%d), root %s\n", ccwal_version(),
         CCWAL_VERSION_MAJOR, CCWAL_VERSION_MINOR, CCWAL_VERSION_PATCH, root);

  /* 1. Open a store: every fallible call returns a ccwal_result and, when
   * asked, a ccwal_error with the detail. */
  ccwal_error *error = NULL;
  ccwal_options *options = NULL;
  ccwal_result rc = ccwal_options_new((const uint8_t *)root, strlen(root),
                                      &options, &error);
  if (failed("ccwal_options_new", rc, error)) {
    return 1;
  }
  ccwal_store *store = NULL;
  rc = ccwal_store_open(options, &store, &error);
  ccwal_options_free(options); /* the store copied what it needs */
  if (failed("ccwal_store_open", rc, error)) {
    return 1;
  }

  /* 2. Append a batch: ten minutes of cpu_load for node01 (host level) and
   * of flops for its cpu3, in one call. */
  uint8_t batch[4096];
  uint8_t *end = batch;
  for (int i = 0; i < 10; i++) {
    int64_t ts = FROM + 30 + (int64_t)i * FREQUENCY;
    end = put_sample(end, ts, 0.5 + i, "demo", "node01", "cpu_load", NULL);
    end = put_sample(end, ts, 100.0 * i, "demo", "node01", "flops", "cpu3");
  }
  rc = ccwal_store_append_batch(store, batch, (size_t)(end - batch), &error);
  if (failed("ccwal_store_append_batch", rc, error)) {
    return 1;
  }

  /* 3. Errors: a host name with a '/' is refused, never truncated. The
   * call fails as a whole and the store goes on. */
  rc = ccwal_store_append(store, (const uint8_t *)"demo", 4,
                          (const uint8_t *)"../etc", 6,
                          (const uint8_t *)"cpu_load", 8, NULL, 0, 1.0,
                          FROM, &error);
  if (rc != CCWAL_INVALID_NAME) {
    fprintf(stderr, "expected CCWAL_INVALID_NAME, got %d\n", (int)rc);
    return 1;
  }
  failed("refused as expected", rc, error);

  /* 4. Sync: OK means every sample appended before is on stable storage. */
  rc = ccwal_store_sync(store, &error);
  if (failed("ccwal_store_sync", rc, error)) {
    return 1;
  }

  /* 5. Checkpoint the window [FROM, FROM + 600]: begin seals the WAL (appends
   * may go on meanwhile), add one snapshot per host, finish deletes the
   * sealed WAL the snapshots cover. The host application builds snapshots
   * from its memory; here the values are those appended above. */
  ccwal_checkpoint *checkpoint = NULL;
  rc = ccwal_checkpoint_begin(store, FROM, FROM + 600, 1, 4, &checkpoint,
                              &error);
  if (failed("ccwal_checkpoint_begin", rc, error)) {
    return 1;
  }
  double load[10], flops[10];
  for (int i = 0; i < 10; i++) {
    load[i] = 0.5 + i;
    flops[i] = 100.0 * i;
  }
  ccwal_snapshot_builder *snapshot = NULL;
  rc = ccwal_snapshot_builder_new(FROM, FROM + 600, &snapshot, &error);
  if (failed("ccwal_snapshot_builder_new", rc, error)) {
    return 1;
  }
  if (failed("add_metric",
             ccwal_snapshot_builder_add_metric_f64(
                 snapshot, (const uint8_t *)"cpu_load", 8, FREQUENCY,
                 FROM + 30, load, 10, &error),
             error) ||
      failed("begin_child",
             ccwal_snapshot_builder_begin_child(
                 snapshot, (const uint8_t *)"cpu3", 4, &error),
             error) ||
      failed("add_metric",
             ccwal_snapshot_builder_add_metric_f64(
                 snapshot, (const uint8_t *)"flops", 5, FREQUENCY, FROM + 30,
                 flops, 10, &error),
             error) ||
      failed("end_child", ccwal_snapshot_builder_end_child(snapshot, &error),
             error)) {
    ccwal_snapshot_builder_free(snapshot);
    ccwal_checkpoint_free(checkpoint);
    return 1;
  }
  /* add takes the builder, also when it fails */
  rc = ccwal_checkpoint_add(checkpoint, (const uint8_t *)"demo", 4,
                            (const uint8_t *)"node01", 6, snapshot, &error);
  if (failed("ccwal_checkpoint_add", rc, error)) {
    ccwal_checkpoint_free(checkpoint);
    return 1;
  }
  ccwal_checkpoint_report *report = NULL;
  rc = ccwal_checkpoint_finish(checkpoint, &report, &error);
  if (failed("ccwal_checkpoint_finish", rc, error)) {
    return 1;
  }
  ccwal_checkpoint_totals totals = {.struct_size = sizeof(ccwal_checkpoint_totals)};
  rc = ccwal_checkpoint_report_totals(report, &totals, &error);
  if (failed("ccwal_checkpoint_report_totals", rc, error)) {
    return 1;
  }
  printf("checkpoint: %zu hosts written, %zu failed, %llu bytes, "
         "%zu WAL segments deleted\n",
         totals.written, totals.failed, (unsigned long long)totals.bytes,
         totals.segments_deleted);
  ccwal_checkpoint_report_free(report);

  /* One more sample after the checkpoint: it is only in the WAL. */
  rc = ccwal_store_append(store, (const uint8_t *)"demo", 4,
                          (const uint8_t *)"node01", 6,
                          (const uint8_t *)"cpu_load", 8, NULL, 0, 42.0,
                          FROM + 30 + 10 * FREQUENCY, &error);
  if (failed("ccwal_store_append", rc, error)) {
    return 1;
  }
  rc = ccwal_store_close(store, &error);
  ccwal_store_free(store);
  if (failed("ccwal_store_close", rc, error)) {
    return 1;
  }

  /* 6. Restore, as at start-up: the snapshot, then the WAL replayed. The
   * metric configuration is a flat list: u16 name_len | name | i64
   * frequency per metric. */
  uint8_t metrics[64];
  uint8_t *m = metrics;
  m = put_le(m, 8, 2);
  m = put_name(m, "cpu_load");
  m = put_le(m, FREQUENCY, 8);
  m = put_le(m, 5, 2);
  m = put_name(m, "flops");
  m = put_le(m, FREQUENCY, 8);
  ccwal_restore_result *restored = NULL;
  rc = ccwal_restore((const uint8_t *)root, strlen(root), FROM, metrics,
                     (size_t)(m - metrics), NULL, &restored, &error);
  if (failed("ccwal_restore", rc, error)) {
    return 1;
  }
  size_t hosts = 0;
  rc = ccwal_restore_host_count(restored, &hosts, &error);
  if (failed("ccwal_restore_host_count", rc, error)) {
    return 1;
  }
  size_t samples = 0;
  for (size_t h = 0; h < hosts; h++) {
    ccwal_restored_host host = {.struct_size = sizeof(ccwal_restored_host)};
    if (failed("ccwal_restore_host",
               ccwal_restore_host(restored, h, &host, &error), error)) {
      return 1;
    }
    printf("%.*s/%.*s: %zu files, %llu WAL records, %zu levels%s%.*s\n",
           (int)host.cluster_len, (const char *)host.cluster,
           (int)host.host_len, (const char *)host.host, host.files_loaded,
           (unsigned long long)host.records_applied, host.level_count,
           host.error_len > 0 ? ", error: " : "", (int)host.error_len,
           (const char *)host.error);
    for (size_t l = 0; l < host.level_count; l++) {
      ccwal_restored_level level = {.struct_size = sizeof(ccwal_restored_level)};
      if (failed("ccwal_restore_level",
                 ccwal_restore_level(restored, h, l, &level, &error), error)) {
        return 1;
      }
      for (size_t i = 0; i < level.metric_count; i++) {
        ccwal_restored_metric metric = {.struct_size = sizeof(ccwal_restored_metric)};
        if (failed("ccwal_restore_metric",
                   ccwal_restore_metric(restored, h, l, i, &metric, &error),
                   error)) {
          return 1;
        }
        for (size_t c = 0; c < metric.chunk_count; c++) {
          ccwal_chunk chunk = {.struct_size = sizeof(ccwal_chunk)};
          if (failed("ccwal_restore_chunk",
                     ccwal_restore_chunk(restored, h, l, i, c, &chunk, &error),
                     error)) {
            return 1;
          }
          printf("  level %zu %.*s: start %lld, every %lld s, %zu values, "
                 "last %g%s\n",
                 l, (int)metric.name_len, (const char *)metric.name,
                 (long long)chunk.start, (long long)chunk.frequency,
                 chunk.len, chunk.len > 0 ? chunk.values[chunk.len - 1] : NAN,
                 chunk.archived ? " (from a snapshot)" : "");
          samples += chunk.len;
        }
      }
    }
  }
  ccwal_restore_result_free(restored);
  /* 10 cpu_load + 10 flops from the snapshot, 1 cpu_load from the WAL. */
  if (samples != 21) {
    fprintf(stderr, "restored %zu samples, expected 21\n", samples);
    return 1;
  }
  printf("restored %zu samples\n", samples);
  return 0;
}

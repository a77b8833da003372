/* Several threads appending (single samples and batches) while another
 * checkpoints: every sample is restored afterwards, by one restore and by
 * several threads restoring a scan's hosts at once. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

enum { THREADS = 4, SAMPLES = 2000 };

typedef struct {
  ccwal_store *store;
  int index;
} worker_args;

static void *append_samples(void *arg) {
  worker_args *args = arg;
  char host[16];
  snprintf(host, sizeof host, "h%d", args->index);
  test_batch batch = {0};
  for (int i = 0; i < SAMPLES; i++) {
    int64_t ts = 1700000000 + i;
    if (args->index % 2 == 0) {
      CHECK_RESULT(CCWAL_OK, ccwal_store_append(args->store, STR("c"), (const uint8_t *)host, strlen(host),
                                                STR("m"), NULL, 0, (double)i, ts, NULL));
    } else {
      batch_add(&batch, "c", host, "m", NULL, 0, (double)i, ts);
      if (i % 100 == 99) {
        CHECK_RESULT(CCWAL_OK, ccwal_store_append_batch(args->store, batch.bytes, batch.len, NULL));
        batch.len = 0;
      }
    }
  }
  batch_free(&batch);
  return NULL;
}

/* Every sample of host `h` of `result` (a host's samples are 0, 1, ... at
 * one-second steps) is restored. */
static void check_host(const ccwal_restore_result *result, size_t h) {
  ccwal_restored_host host = {.struct_size = sizeof(ccwal_restored_host)};
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host(result, h, &host, NULL));
  CHECK(host.records_applied == SAMPLES && host.error_len == 0);
  ccwal_restored_metric metric = {.struct_size = sizeof(ccwal_restored_metric)};
  CHECK_RESULT(CCWAL_OK, ccwal_restore_metric(result, h, 0, 0, &metric, NULL));
  size_t seen = 0;
  for (size_t c = 0; c < metric.chunk_count; c++) {
    ccwal_chunk chunk = {.struct_size = sizeof(ccwal_chunk)};
    CHECK_RESULT(CCWAL_OK, ccwal_restore_chunk(result, h, 0, 0, c, &chunk, NULL));
    for (size_t i = 0; i < chunk.len; i++) {
      CHECK(chunk.values[i] == (double)(chunk.start + (int64_t)i - 1700000000));
      seen++;
    }
  }
  CHECK(seen == SAMPLES);
}

typedef struct {
  ccwal_restore_scan *scan;
  atomic_size_t next;
  atomic_size_t restored;
} scan_args;

/* Restores the scan's next host until none is left. */
static void *restore_hosts(void *arg) {
  scan_args *args = arg;
  size_t hosts = 0;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_scan_host_count(args->scan, &hosts, NULL));
  for (size_t h = atomic_fetch_add(&args->next, 1); h < hosts; h = atomic_fetch_add(&args->next, 1)) {
    ccwal_restore_result *one = NULL;
    CHECK_RESULT(CCWAL_OK, ccwal_restore_scan_host(args->scan, h, &one, NULL));
    check_host(one, 0);
    ccwal_restore_result_free(one);
    atomic_fetch_add(&args->restored, 1);
  }
  return NULL;
}

int main(void) {
  char *root = make_temp_dir();
  ccwal_store *store = open_store(root, 2);
  pthread_t threads[THREADS];
  worker_args args[THREADS];
  for (int t = 0; t < THREADS; t++) {
    args[t] = (worker_args){store, t};
    CHECK(pthread_create(&threads[t], NULL, append_samples, &args[t]) == 0);
  }
  /* Checkpoints racing with the appends; no snapshot is added, so every
   * host keeps its sealed segments and restore replays them. */
  for (int round = 0; round < 3; round++) {
    ccwal_checkpoint *checkpoint = NULL;
    ccwal_checkpoint_report *report = NULL;
    CHECK_RESULT(CCWAL_OK, ccwal_checkpoint_begin(store, 1700000000, 1700000100 + round, 1, 2, &checkpoint, NULL));
    CHECK_RESULT(CCWAL_OK, ccwal_checkpoint_finish(checkpoint, &report, NULL));
    ccwal_checkpoint_report_free(report);
  }
  for (int t = 0; t < THREADS; t++) CHECK(pthread_join(threads[t], NULL) == 0);
  ccwal_store_free(store);

  test_batch config = {0};
  metrics_add(&config, "m", 1);
  ccwal_restore_result *result = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_restore(STR(root), 0, config.bytes, config.len, NULL, &result, NULL));
  size_t hosts = 0;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host_count(result, &hosts, NULL));
  CHECK(hosts == THREADS);
  for (size_t h = 0; h < hosts; h++) check_host(result, h);
  ccwal_restore_result_free(result);

  /* The same root restored host by host by several threads at once. */
  scan_args scan = {0};
  CHECK_RESULT(CCWAL_OK, ccwal_restore_scan_new(STR(root), 0, config.bytes, config.len, NULL, &scan.scan, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_restore_scan_host_count(scan.scan, &hosts, NULL));
  CHECK(hosts == THREADS);
  for (int t = 0; t < THREADS; t++) CHECK(pthread_create(&threads[t], NULL, restore_hosts, &scan) == 0);
  for (int t = 0; t < THREADS; t++) CHECK(pthread_join(threads[t], NULL) == 0);
  CHECK(atomic_load(&scan.restored) == THREADS);
  ccwal_restore_scan_free(scan.scan);
  batch_free(&config);
  free(root);
  puts("test_threads: ok");
  return 0;
}

/* write -> sync -> checkpoint -> restore round trip through the C ABI. */
#include <math.h>

#include "common.h"

static int events_seen;

static void on_event(void *user_data, ccwal_event_level level, const uint8_t *cluster,
                     size_t cluster_len, const uint8_t *host, size_t host_len,
                     const uint8_t *message, size_t message_len) {
  (void)level, (void)cluster, (void)cluster_len, (void)host, (void)host_len, (void)message,
      (void)message_len;
  *(int *)user_data += 1;
}

int main(void) {
  char *root = make_temp_dir();
  ccwal_options *options = NULL;
  ccwal_store *store = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_options_new(STR(root), &options, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_shards(options, 2, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_durability(options, CCWAL_DURABILITY_INTERVAL, 50, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_event_hook(options, on_event, &events_seen, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_store_open(options, &store, NULL));
  ccwal_options_free(options);

  /* Samples for cpu3 of two hosts, one by one and as a batch. */
  ccwal_bytes cpu3 = {(const uint8_t *)"cpu3", 4};
  for (int i = 0; i < 10; i++) {
    CHECK_RESULT(CCWAL_OK, ccwal_store_append(store, STR("fritz"), STR("f0101"), STR("flops"), &cpu3,
                                              1, i * 1.5, 1700000000 + 60 * i, NULL));
  }
  test_batch batch = {0};
  const char *selector[] = {"socket0", "memctrl1"};
  for (int i = 0; i < 10; i++) {
    batch_add(&batch, "fritz", "f0102", "mem_bw", selector, 2, i, 1700000000 + 60 * i);
  }
  CHECK_RESULT(CCWAL_OK, ccwal_store_append_batch(store, batch.bytes, batch.len, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_store_sync(store, NULL));
  ccwal_stats stats = {.struct_size = sizeof(ccwal_stats)};
  CHECK_RESULT(CCWAL_OK, ccwal_store_stats(store, &stats, NULL));
  CHECK(stats.appended == 20 && stats.written == 20 && stats.fsyncs >= 1 && stats.failed == 0);

  /* A checkpoint of f0101 only: its WAL is sealed, then deleted. */
  ccwal_checkpoint *checkpoint = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_checkpoint_begin(store, 1700000000, 1700000600, 2, 4, &checkpoint, NULL));
  ccwal_snapshot_builder *builder = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_new(1700000000, 1700000600, &builder, NULL));
  double values[10];
  for (int i = 0; i < 10; i++) values[i] = i * 1.5;
  values[4] = NAN;
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_begin_child(builder, STR("cpu3"), NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_add_metric_f64(builder, STR("flops"), 60, 1700000000,
                                                               values, 10, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_end_child(builder, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_checkpoint_add(checkpoint, STR("fritz"), STR("f0101"), builder, NULL));
  ccwal_checkpoint_report *report = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_checkpoint_finish(checkpoint, &report, NULL));
  ccwal_checkpoint_totals totals = {.struct_size = sizeof(ccwal_checkpoint_totals)};
  CHECK_RESULT(CCWAL_OK, ccwal_checkpoint_report_totals(report, &totals, NULL));
  CHECK(totals.hosts == 1 && totals.written == 1 && totals.failed == 0 && totals.bytes > 0);
  CHECK(totals.segments_deleted == 1);
  ccwal_checkpoint_host host_report = {.struct_size = sizeof(ccwal_checkpoint_host)};
  CHECK_RESULT(CCWAL_OK, ccwal_checkpoint_report_host(report, 0, &host_report, NULL));
  CHECK(host_report.outcome == CCWAL_HOST_WRITTEN && host_report.host_len == 5);
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_checkpoint_report_host(report, 1, &host_report, NULL));
  ccwal_checkpoint_report_free(report);

  /* One more sample after the checkpoint, then close. */
  CHECK_RESULT(CCWAL_OK, ccwal_store_append(store, STR("fritz"), STR("f0101"), STR("flops"), &cpu3, 1,
                                            99.0, 1700000000 + 60 * 10, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_store_close(store, NULL));
  ccwal_store_free(store);

  /* Restore: f0101 has the snapshot chunk and one WAL chunk; f0102 the WAL. */
  test_batch config = {0};
  metrics_add(&config, "flops", 60);
  metrics_add(&config, "mem_bw", 60);
  ccwal_restore_result *result = NULL;
  ccwal_restore_options restore_options = {.struct_size = sizeof(ccwal_restore_options), .workers = 2};
  CHECK_RESULT(CCWAL_OK, ccwal_restore(STR(root), 1700000000, config.bytes, config.len, &restore_options,
                                       &result, NULL));
  size_t hosts = 0;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host_count(result, &hosts, NULL));
  CHECK(hosts == 2);
  ccwal_restored_host host = {.struct_size = sizeof(ccwal_restored_host)};
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host(result, 0, &host, NULL));
  CHECK(host.host_len == 5 && memcmp(host.host, "f0101", 5) == 0 && host.error_len == 0);
  CHECK(host.level_count == 2);
  ccwal_restored_level level = {.struct_size = sizeof(ccwal_restored_level)};
  CHECK_RESULT(CCWAL_OK, ccwal_restore_level(result, 0, 1, &level, NULL));
  CHECK(level.depth == 1 && level.metric_count == 1);
  const uint8_t *path = NULL;
  size_t path_len = 0;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_level_path(result, 0, 1, 0, &path, &path_len, NULL));
  CHECK(path_len == 4 && memcmp(path, "cpu3", 4) == 0);
  ccwal_restored_metric metric = {.struct_size = sizeof(ccwal_restored_metric)};
  CHECK_RESULT(CCWAL_OK, ccwal_restore_metric(result, 0, 1, 0, &metric, NULL));
  CHECK(metric.name_len == 5 && metric.chunk_count == 2);
  ccwal_chunk chunk = {.struct_size = sizeof(ccwal_chunk)};
  CHECK_RESULT(CCWAL_OK, ccwal_restore_chunk(result, 0, 1, 0, 0, &chunk, NULL));
  CHECK(chunk.archived && chunk.len == 10 && chunk.capacity == 10 && chunk.start == 1700000000);
  CHECK(chunk.values[3] == 4.5 && isnan(chunk.values[4]));
  CHECK_RESULT(CCWAL_OK, ccwal_restore_chunk(result, 0, 1, 0, 1, &chunk, NULL));
  CHECK(!chunk.archived && chunk.len == 1 && chunk.values[0] == 99.0 && chunk.capacity == 512);
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host(result, 1, &host, NULL));
  CHECK(host.level_count == 3 && host.records_applied == 10);
  CHECK_RESULT(CCWAL_OK, ccwal_restore_metric(result, 1, 2, 0, &metric, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_restore_chunk(result, 1, 2, 0, 0, &chunk, NULL));
  CHECK(chunk.len == 10 && chunk.values[9] == 9.0);
  ccwal_restore_result_free(result);

  /* Cleanup removes the snapshot (number <= horizon), never a WAL. */
  size_t deleted = 0, problems = 0;
  CHECK_RESULT(CCWAL_OK, ccwal_cleanup(STR(root), 1700000000, &deleted, &problems, NULL));
  CHECK(deleted == 1 && problems == 0);

  batch_free(&batch);
  batch_free(&config);
  free(root);
  puts("test_roundtrip: ok");
  return 0;
}

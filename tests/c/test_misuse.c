/* Every function with NULL arguments, bad names, malformed buffers, and
 * calls after close: a clear code (and message), never a crash. */
#include "common.h"

/* Checks the result code and the error object (then freed) of a call. */
#define expect_error(call, code, error, needle) \
  do {                                            \
    CHECK_RESULT(code, call);                     \
    check_error(error, code, needle);             \
    error = NULL;                                 \
  } while (0)

int main(void) {
  char *root = make_temp_dir();
  ccwal_error *error = NULL;
  ccwal_options *options = NULL;

  /* Options. */
  expect_error(ccwal_options_new(NULL, 3, &options, &error), CCWAL_NULL_ARGUMENT, error, "root");
  expect_error(ccwal_options_new(STR(""), &options, &error), CCWAL_INVALID_ARGUMENT, error, "empty");
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_options_new(STR(root), NULL, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_options_set_shards(NULL, 1, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_new(STR(root), &options, NULL));
  expect_error(ccwal_options_set_queue_capacity(options, 0, &error), CCWAL_INVALID_ARGUMENT, error, "capacity");
  expect_error(ccwal_options_set_durability(options, CCWAL_DURABILITY_INTERVAL, 0, &error),
               CCWAL_INVALID_ARGUMENT, error, "interval");
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_options_set_max_open_files(options, 0, NULL));
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_options_set_flush_interval_ms(options, 0, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_backpressure(options, CCWAL_BACKPRESSURE_BLOCK, 100, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_event_hook(options, NULL, NULL, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_store_open(NULL, NULL, NULL));
  ccwal_store *store = NULL;
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_store_open(options, NULL, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_store_open(options, &store, NULL));
  ccwal_options_free(options);
  ccwal_options_free(NULL);

  /* Appends with NULL and bad names. */
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_store_append(NULL, STR("c"), STR("h"), STR("m"), NULL, 0, 1, 1, NULL));
  expect_error(ccwal_store_append(store, NULL, 1, STR("h"), STR("m"), NULL, 0, 1, 1, &error),
               CCWAL_NULL_ARGUMENT, error, "cluster");
  expect_error(ccwal_store_append(store, STR("c"), STR("h"), STR("m"), NULL, 2, 1, 1, &error),
               CCWAL_NULL_ARGUMENT, error, "selector");
  expect_error(ccwal_store_append(store, STR(".."), STR("h"), STR("m"), NULL, 0, 1, 1, &error),
               CCWAL_INVALID_NAME, error, "cluster");
  expect_error(ccwal_store_append(store, STR("c"), STR("a/b"), STR("m"), NULL, 0, 1, 1, &error),
               CCWAL_INVALID_NAME, error, "host");
  static uint8_t long_name[70000];
  memset(long_name, 'm', sizeof long_name);
  expect_error(ccwal_store_append(store, STR("c"), STR("h"), long_name, sizeof long_name, NULL, 0, 1, 1, &error),
               CCWAL_INVALID_NAME, error, "metric");
  ccwal_bytes too_long = {long_name, 256};
  expect_error(ccwal_store_append(store, STR("c"), STR("h"), STR("m"), &too_long, 1, 1, 1, &error),
               CCWAL_INVALID_NAME, error, "selector");
  ccwal_bytes null_component = {NULL, 3};
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_store_append(store, STR("c"), STR("h"), STR("m"), &null_component, 1, 1, 1, NULL));

  /* Malformed batches: every truncation of a valid one, and a bad name. */
  test_batch batch = {0};
  const char *selector[] = {"cpu0"};
  batch_add(&batch, "c", "h", "m", selector, 1, 1.0, 1);
  batch_add(&batch, "c", "h", "m", selector, 1, 2.0, 2);
  for (size_t len = 1; len < batch.len; len++) {
    ccwal_result got = ccwal_store_append_batch(store, batch.bytes, len, &error);
    if (len == batch.len / 2) {
      CHECK_RESULT(CCWAL_OK, got);
    } else {
      expect_error(got, CCWAL_INVALID_ARGUMENT, error, "batch sample");
    }
  }
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_store_append_batch(store, NULL, 5, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_store_append_batch(store, NULL, 0, NULL));
  test_batch bad = {0};
  batch_add(&bad, "c", "..", "m", NULL, 0, 1.0, 1);
  expect_error(ccwal_store_append_batch(store, bad.bytes, bad.len, &error), CCWAL_INVALID_NAME, error, "sample 0");

  /* Host lists for rotation. */
  uint8_t hosts[] = {1, 0, 1, 0, 'c', 'h'};
  CHECK_RESULT(CCWAL_OK, ccwal_store_rotate(store, hosts, sizeof hosts, NULL));
  expect_error(ccwal_store_rotate(store, hosts, 5, &error), CCWAL_INVALID_ARGUMENT, error, "host list");

  /* Stats, then calls after close. */
  ccwal_stats stats = {.struct_size = sizeof(ccwal_stats)};
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_store_stats(store, NULL, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_store_stats(store, &stats, NULL));
  CHECK(stats.appended == 1 && stats.struct_size == sizeof stats);
  /* A struct_size below the struct's first release is refused, the
   * struct untouched. */
  ccwal_stats unsized = {.struct_size = 8, .appended = 77};
  expect_error(ccwal_store_stats(store, &unsized, &error), CCWAL_INVALID_ARGUMENT, error, "struct_size");
  CHECK(unsized.struct_size == 8 && unsized.appended == 77);
  CHECK_RESULT(CCWAL_OK, ccwal_store_close(store, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_store_close(store, NULL));
  expect_error(ccwal_store_append(store, STR("c"), STR("h"), STR("m"), NULL, 0, 1, 1, &error), CCWAL_CLOSED,
               error, "closed");
  CHECK_RESULT(CCWAL_CLOSED, ccwal_store_append_batch(store, batch.bytes, batch.len, NULL));
  CHECK_RESULT(CCWAL_CLOSED, ccwal_store_flush(store, NULL));
  CHECK_RESULT(CCWAL_CLOSED, ccwal_store_sync(store, NULL));
  CHECK_RESULT(CCWAL_CLOSED, ccwal_store_rotate(store, hosts, sizeof hosts, NULL));
  ccwal_checkpoint *checkpoint = NULL;
  CHECK_RESULT(CCWAL_CLOSED, ccwal_checkpoint_begin(store, 1, 2, 1, 1, &checkpoint, NULL));
  ccwal_store_free(store);
  ccwal_store_free(NULL);

  /* Snapshot builders. */
  ccwal_snapshot_builder *builder = NULL;
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_snapshot_builder_new(1, 2, NULL, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_new(1, 2, &builder, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_snapshot_builder_add_metric_f64(builder, STR("m"), 1, 1, NULL, 3, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_snapshot_builder_add_metric_f32(NULL, STR("m"), 1, 1, NULL, 0, NULL));
  expect_error(ccwal_snapshot_builder_end_child(builder, &error), CCWAL_INVALID_ARGUMENT, error, "unbalanced");
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_begin_child(builder, STR("cpu0"), NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_end_child(builder, NULL));
  float f32_values[] = {1.0f, 2.0f};
  expect_error(ccwal_snapshot_builder_add_metric_f32(builder, STR("late"), 1, 1, f32_values, 2, &error),
               CCWAL_INVALID_ARGUMENT, error, "before its first child");
  expect_error(ccwal_write_snapshot(STR(root), STR("c"), STR(".."), 1, builder, &error), CCWAL_INVALID_NAME,
               error, "host");
  CHECK_RESULT(CCWAL_OK, ccwal_write_snapshot(STR(root), STR("c"), STR("h"), 1, builder, NULL));
  ccwal_snapshot_builder_free(builder);
  ccwal_snapshot_builder_free(NULL);

  /* Checkpoint, report and restore accessors with NULL. */
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_checkpoint_begin(NULL, 1, 2, 1, 1, &checkpoint, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_checkpoint_add(NULL, STR("c"), STR("h"), NULL, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_checkpoint_finish(NULL, NULL, NULL));
  ccwal_checkpoint_report *report = NULL;
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_checkpoint_finish(NULL, &report, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_checkpoint_report_totals(NULL, NULL, NULL));
  ccwal_checkpoint_free(NULL);
  ccwal_checkpoint_report_free(NULL);
  ccwal_restore_result *result = NULL;
  uint8_t bad_config[] = {5, 0, 'l', 'o'};
  expect_error(ccwal_restore(STR(root), 0, bad_config, sizeof bad_config, NULL, &result, &error),
               CCWAL_INVALID_ARGUMENT, error, "metric configuration");
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_restore(STR(root), 0, NULL, 0, NULL, NULL, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_restore(STR(root), 0, NULL, 0, NULL, &result, NULL));
  size_t count = 7;
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_restore_host_count(NULL, &count, NULL));
  CHECK(count == 7); /* outputs are written only on success */
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host_count(result, &count, NULL));
  CHECK(count == 1);
  ccwal_restored_host host = {.struct_size = sizeof(ccwal_restored_host)};
  expect_error(ccwal_restore_host(result, 5, &host, &error), CCWAL_INVALID_ARGUMENT, error, "host index");
  ccwal_chunk chunk = {.struct_size = sizeof(ccwal_chunk)};
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_restore_chunk(result, 0, 0, 0, 0, &chunk, NULL));
  ccwal_restore_result_free(result);
  ccwal_restore_result_free(NULL);
  size_t deleted, problems;
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_cleanup(STR(root), 1, NULL, &problems, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_cleanup(STR(root), 1, &deleted, &problems, NULL));
  CHECK(deleted == 1);

  batch_free(&batch);
  batch_free(&bad);
  free(root);
  puts("test_misuse: ok");
  return 0;
}

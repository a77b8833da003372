/* Restoring a directory with damage: a WAL with a flipped byte in the
 * middle and a torn tail. Salvage skips the damage; strict stops at it. */
#include <unistd.h>

#include "common.h"

static size_t restored_values(const char *root, ccwal_recovery recovery, size_t *damaged) {
  test_batch config = {0};
  metrics_add(&config, "m", 60);
  ccwal_restore_options options = {CCWAL_SELECTION_COVERING, recovery, 1};
  ccwal_restore_result *result = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_restore(STR(root), 0, config.bytes, config.len, &options, &result, NULL));
  ccwal_restored_host host;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host(result, 0, &host, NULL));
  *damaged = host.damaged_ranges;
  size_t applied = (size_t)host.records_applied;
  ccwal_restore_result_free(result);
  batch_free(&config);
  return applied;
}

int main(void) {
  char *root = make_temp_dir();
  ccwal_store *store = open_store(root, 1);
  for (int i = 0; i < 10; i++) {
    CHECK_RESULT(CCWAL_OK, ccwal_store_append(store, STR("c"), STR("h"), STR("m"), NULL, 0, i, 1700000000 + 60 * i, NULL));
  }
  ccwal_store_free(store);

  char path[512];
  snprintf(path, sizeof path, "%s/c/h/current.wal", root);
  FILE *file = fopen(path, "r+b");
  CHECK(file != NULL);
  CHECK(fseek(file, 0, SEEK_END) == 0);
  long size = ftell(file);
  long record = (size - 4) / 10;
  CHECK(fseek(file, 4 + 3 * record + 14, SEEK_SET) == 0); /* inside the 4th record */
  CHECK(fputc(0x5A, file) != EOF);
  CHECK(fclose(file) == 0);
  CHECK(truncate(path, size - 5) == 0); /* and the last record torn */

  size_t damaged = 0;
  CHECK(restored_values(root, CCWAL_RECOVERY_STRICT, &damaged) == 3);
  CHECK(damaged == 1);
  CHECK(restored_values(root, CCWAL_RECOVERY_SALVAGE, &damaged) == 8);
  CHECK(damaged == 2);

  /* A snapshot that is garbage: salvage skips it, strict fails the host. */
  snprintf(path, sizeof path, "%s/c/h/1700000000.bin", root);
  file = fopen(path, "wb");
  CHECK(file != NULL && fwrite("\x01\x00\x5b\xcc garbage", 1, 12, file) == 12 && fclose(file) == 0);
  test_batch config = {0};
  metrics_add(&config, "m", 60);
  ccwal_restore_options strict = {CCWAL_SELECTION_COVERING, CCWAL_RECOVERY_STRICT, 1};
  ccwal_restore_result *result = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_restore(STR(root), 0, config.bytes, config.len, &strict, &result, NULL));
  ccwal_restored_host host;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host(result, 0, &host, NULL));
  CHECK(host.error_len > 0 && host.records_applied == 0);
  ccwal_restore_result_free(result);
  CHECK(restored_values(root, CCWAL_RECOVERY_SALVAGE, &damaged) == 8);
  CHECK(damaged == 3);

  /* A stray file where only host directories belong: strict recovery
   * stops the scan there, as Go does, and says so. */
  snprintf(path, sizeof path, "%s/c/0-stray.bin", root);
  file = fopen(path, "wb");
  CHECK(file != NULL && fclose(file) == 0);
  CHECK_RESULT(CCWAL_OK, ccwal_restore(STR(root), 0, config.bytes, config.len, &strict, &result, NULL));
  const uint8_t *message = NULL;
  size_t message_len = 0;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_root_error(result, &message, &message_len, NULL));
  CHECK(message_len > 0 && strstr((const char *)message, "0-stray.bin") != NULL);
  size_t hosts = 7;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host_count(result, &hosts, NULL));
  CHECK(hosts == 0);
  ccwal_restore_result_free(result);

  batch_free(&config);
  free(root);
  puts("test_damage: ok");
  return 0;
}

/* Restoring a directory with damage: a WAL with a flipped byte in the
 * middle and a torn tail. Salvage skips the damage; strict stops at it.
 * Host and root errors carry their real result code: CCWAL_CORRUPT for a
 * garbage snapshot, CCWAL_IO with errno for one that cannot be read,
 * CCWAL_FORMAT for a bad snapshot name or a stray file. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/* Whether the (ptr, len) string `text`, not NUL-terminated, contains
 * `needle`. */
static int contains(const uint8_t *text, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; n <= len && i <= len - n; i++) {
    if (memcmp(text + i, needle, n) == 0) return 1;
  }
  return 0;
}

/* Restores `root` with strict recovery and checks host 0's error: its
 * code, OS code and a message containing `needle` (NULL: no error). */
static void check_host_error(const char *root, ccwal_result code, int32_t os_code, const char *needle) {
  test_batch config = {0};
  metrics_add(&config, "m", 60);
  ccwal_restore_options options = {
      .struct_size = sizeof(ccwal_restore_options), .recovery = CCWAL_RECOVERY_STRICT, .workers = 1};
  ccwal_restore_result *result = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_restore(STR(root), 0, config.bytes, config.len, &options, &result, NULL));
  ccwal_result got = CCWAL_PANIC;
  int32_t got_os = -1;
  const uint8_t *message = NULL;
  size_t message_len = 7;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host_error(result, 0, &got, &got_os, &message, &message_len, NULL));
  if (got != code || got_os != os_code) {
    fprintf(stderr, "host error: code %d os %d, expected %d os %d: %.*s\n", (int)got, (int)got_os, (int)code,
            (int)os_code, (int)message_len, (const char *)message);
    exit(1);
  }
  ccwal_restored_host host = {.struct_size = sizeof(ccwal_restored_host)};
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host(result, 0, &host, NULL));
  CHECK(host.error_len == message_len && (message_len == 0 || host.error == message));
  CHECK(needle == NULL ? message_len == 0 : contains(message, message_len, needle));
  /* No root error here; a host index out of range is refused. */
  CHECK_RESULT(CCWAL_OK, ccwal_restore_root_error(result, &got, &got_os, &message, &message_len, NULL));
  CHECK(got == CCWAL_OK && got_os == 0 && message_len == 0);
  ccwal_error *error = NULL;
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT,
               ccwal_restore_host_error(result, 1, &got, &got_os, &message, &message_len, &error));
  check_error(error, CCWAL_INVALID_ARGUMENT, "host index");
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_restore_host_error(result, 0, NULL, &got_os, &message, &message_len, NULL));
  ccwal_restore_result_free(result);
  batch_free(&config);
}

static size_t restored_values(const char *root, ccwal_recovery recovery, size_t *damaged) {
  test_batch config = {0};
  metrics_add(&config, "m", 60);
  ccwal_restore_options options = {
      .struct_size = sizeof(ccwal_restore_options), .recovery = recovery, .workers = 1};
  ccwal_restore_result *result = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_restore(STR(root), 0, config.bytes, config.len, &options, &result, NULL));
  ccwal_restored_host host = {.struct_size = sizeof(ccwal_restored_host)};
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
  check_host_error(root, CCWAL_OK, 0, NULL); /* WAL damage does not fail the host */

  /* A snapshot that is garbage: salvage skips it, strict fails the host. */
  snprintf(path, sizeof path, "%s/c/h/1700000000.bin", root);
  file = fopen(path, "wb");
  CHECK(file != NULL && fwrite("\x01\x00\x5b\xcc garbage", 1, 12, file) == 12 && fclose(file) == 0);
  test_batch config = {0};
  metrics_add(&config, "m", 60);
  ccwal_restore_options strict = {
      .struct_size = sizeof(ccwal_restore_options), .recovery = CCWAL_RECOVERY_STRICT, .workers = 1};
  ccwal_restore_result *result = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_restore(STR(root), 0, config.bytes, config.len, &strict, &result, NULL));
  ccwal_restored_host host = {.struct_size = sizeof(ccwal_restored_host)};
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host(result, 0, &host, NULL));
  CHECK(host.error_len > 0 && host.records_applied == 0);
  ccwal_restore_result_free(result);
  CHECK(restored_values(root, CCWAL_RECOVERY_SALVAGE, &damaged) == 8);
  CHECK(damaged == 3);
  check_host_error(root, CCWAL_CORRUPT, 0, "1700000000.bin");

  /* A snapshot that cannot be read (a link to a directory: EISDIR, a real
   * I/O error even for root): strict fails the host with CCWAL_IO. */
  char target[512];
  snprintf(target, sizeof target, "%s/c/h/elsewhere", root);
  CHECK(mkdir(target, 0755) == 0);
  CHECK(unlink(path) == 0 && symlink(target, path) == 0);
  check_host_error(root, CCWAL_IO, EISDIR, "1700000000.bin");
  CHECK(restored_values(root, CCWAL_RECOVERY_SALVAGE, &damaged) == 8);

  /* A snapshot name that is not a number: CCWAL_FORMAT. */
  CHECK(unlink(path) == 0);
  snprintf(path, sizeof path, "%s/c/h/latest.bin", root);
  file = fopen(path, "wb");
  CHECK(file != NULL && fclose(file) == 0);
  check_host_error(root, CCWAL_FORMAT, 0, "latest.bin");
  CHECK(unlink(path) == 0);

  /* A stray file where only host directories belong: strict recovery
   * stops the scan there, as Go does, and says so. */
  snprintf(path, sizeof path, "%s/c/0-stray.bin", root);
  file = fopen(path, "wb");
  CHECK(file != NULL && fclose(file) == 0);
  CHECK_RESULT(CCWAL_OK, ccwal_restore(STR(root), 0, config.bytes, config.len, &strict, &result, NULL));
  const uint8_t *message = NULL;
  size_t message_len = 0;
  ccwal_result code = CCWAL_OK;
  int32_t os_code = -1;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_root_error(result, &code, &os_code, &message, &message_len, NULL));
  CHECK(contains(message, message_len, "0-stray.bin"));
  CHECK(code == CCWAL_FORMAT && os_code == 0);
  CHECK(strlen(ccwal_result_description(CCWAL_FORMAT)) > 0);
  size_t hosts = 7;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_host_count(result, &hosts, NULL));
  CHECK(hosts == 0);
  ccwal_restore_result_free(result);

  batch_free(&config);
  free(root);
  puts("test_damage: ok");
  return 0;
}

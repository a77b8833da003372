/* Version, result descriptions and the error object's NULL handling. */
#include <errno.h>
#include <unistd.h>

#include "common.h"

int main(void) {
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", CCWAL_VERSION_MAJOR, CCWAL_VERSION_MINOR,
           CCWAL_VERSION_PATCH);
  CHECK(strcmp(ccwal_version(), expected) == 0);

  CHECK(strcmp(ccwal_result_description(CCWAL_OK), "ok") == 0);
  CHECK(strlen(ccwal_result_description(CCWAL_NULL_ARGUMENT)) > 0);
  CHECK(CCWAL_NULL_ARGUMENT > 7200);

  const uint8_t *message = NULL;
  size_t len = 0;
  CHECK(ccwal_error_code(NULL) == CCWAL_NULL_ARGUMENT);
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_error_message(NULL, &message, &len));
  CHECK(message == NULL && len == 0);
  CHECK(ccwal_error_os_code(NULL) == 0);
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_error_path(NULL, &message, &len));
  CHECK(CCWAL_PANIC > CCWAL_NULL_ARGUMENT && strcmp(ccwal_result_description(CCWAL_PANIC), "internal panic") == 0);

  /* A failure that concerns one file names it: a restore whose root is a
   * regular file cannot list it (ENOTDIR), and the error carries the root
   * as its path and the OS code. */
  char root[] = "/tmp/ccwal-test-errors-XXXXXX";
  int fd = mkstemp(root);
  CHECK(fd >= 0);
  close(fd);
  ccwal_restore_result *result = NULL;
  ccwal_error *error = NULL;
  ccwal_result r = ccwal_restore((const uint8_t *)root, strlen(root), 0, NULL, 0, NULL, &result, &error);
  const uint8_t *path = NULL;
  size_t path_len = 0;
  CHECK(r == CCWAL_IO && error != NULL && result == NULL);
  CHECK(ccwal_error_os_code(error) == ENOTDIR);
  CHECK_RESULT(CCWAL_OK, ccwal_error_path(error, &path, &path_len));
  CHECK(path_len == strlen(root) && memcmp(path, root, path_len) == 0 && path[path_len] == 0);
  ccwal_error_free(error);
  unlink(root);
  ccwal_error_free(NULL);
  puts("test_errors: ok");
  return 0;
}

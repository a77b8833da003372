/* Version, result descriptions and the error object's NULL handling. */
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
  ccwal_error_free(NULL);
  puts("test_errors: ok");
  return 0;
}

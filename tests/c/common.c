#include "common.h"

void check_result(ccwal_result expected, ccwal_result got, const char *call, const char *file,
                  int line) {
  if (expected != got) {
    fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s)\n", file, line, call, (int)got,
            ccwal_result_description(got), (int)expected, ccwal_result_description(expected));
    exit(1);
  }
}

void check_error(ccwal_error *error, ccwal_result code, const char *needle) {
  const uint8_t *message = NULL;
  size_t len = 0;
  CHECK(error != NULL);
  CHECK(ccwal_error_code(error) == code);
  CHECK_RESULT(CCWAL_OK, ccwal_error_message(error, &message, &len));
  CHECK(message != NULL && message[len] == 0);
  if (strstr((const char *)message, needle) == NULL) {
    fprintf(stderr, "error message \"%s\" lacks \"%s\"\n", (const char *)message, needle);
    exit(1);
  }
  ccwal_error_free(error);
}

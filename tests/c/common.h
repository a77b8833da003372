/* Small helpers shared by the C tests: checks that report file and line. */
#ifndef CCWAL_TEST_COMMON_H
#define CCWAL_TEST_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccwal.h"

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                              \
    }                                                                       \
  } while (0)

/* Checks that `call` returned `expected`; prints the error's message if not. */
#define CHECK_RESULT(expected, call) check_result((expected), (call), #call, __FILE__, __LINE__)

/* (ptr, len) of a C string literal. */
#define STR(s) (const uint8_t *)(s), strlen(s)

void check_result(ccwal_result expected, ccwal_result got, const char *call, const char *file,
                  int line);

/* Asserts that `error` carries `code` and a message containing `needle`,
 * then frees it. */
void check_error(ccwal_error *error, ccwal_result code, const char *needle);

#endif

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
#define check_error(error, code, needle) check_error_at((error), (code), (needle), __FILE__, __LINE__)
void check_error_at(ccwal_error *error, ccwal_result code, const char *needle, const char *file, int line);

#endif

/* A growable flat batch in the layout of ccwal_store_append_batch. */
typedef struct {
  uint8_t *bytes;
  size_t len;
  size_t cap;
} test_batch;

void batch_add(test_batch *batch, const char *cluster, const char *host, const char *metric,
               const char *const *selector, size_t selector_len, double value, int64_t ts);
void batch_free(test_batch *batch);

/* A flat metric configuration for ccwal_restore: name -> frequency. */
void metrics_add(test_batch *config, const char *name, int64_t frequency);

/* A fresh, empty directory under /tmp; the caller owns the string. */
char *make_temp_dir(void);

/* Opens a store below `root` with default options (and `shards` writers). */
ccwal_store *open_store(const char *root, size_t shards);

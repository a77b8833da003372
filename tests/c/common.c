#include "common.h"

void check_result(ccwal_result expected, ccwal_result got, const char *call, const char *file,
                  int line) {
  if (expected != got) {
    fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s)\n", file, line, call, (int)got,
            ccwal_result_description(got), (int)expected, ccwal_result_description(expected));
    exit(1);
  }
}

void check_error_at(ccwal_error *error, ccwal_result code, const char *needle, const char *file, int line) {
  const uint8_t *message = NULL;
  size_t len = 0;
  if (error == NULL) {
    fprintf(stderr, "%s:%d: no error object for code %d\n", file, line, (int)code);
    exit(1);
  }
  CHECK(ccwal_error_code(error) == code);
  CHECK_RESULT(CCWAL_OK, ccwal_error_message(error, &message, &len));
  CHECK(message != NULL && message[len] == 0);
  if (strstr((const char *)message, needle) == NULL) {
    fprintf(stderr, "%s:%d: error message \"%s\" lacks \"%s\"\n", file, line, (const char *)message, needle);
    exit(1);
  }
  ccwal_error_free(error);
}

static void put(test_batch *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n) cap *= 2;
    b->bytes = realloc(b->bytes, cap);
    CHECK(b->bytes != NULL);
    b->cap = cap;
  }
  memcpy(b->bytes + b->len, data, n);
  b->len += n;
}

/* Little-endian stores, independent of the host's byte order. */
static void put_le(test_batch *b, uint64_t v, size_t n) {
  uint8_t bytes[8];
  for (size_t i = 0; i < n; i++) bytes[i] = (uint8_t)(v >> (8 * i));
  put(b, bytes, n);
}

void batch_add(test_batch *batch, const char *cluster, const char *host, const char *metric,
               const char *const *selector, size_t selector_len, double value, int64_t ts) {
  uint64_t value_bits;
  memcpy(&value_bits, &value, sizeof value_bits);
  put_le(batch, (uint64_t)ts, 8);
  put_le(batch, value_bits, 8);
  put_le(batch, strlen(cluster), 2);
  put_le(batch, strlen(host), 2);
  put_le(batch, strlen(metric), 2);
  put_le(batch, selector_len, 1);
  put(batch, cluster, strlen(cluster));
  put(batch, host, strlen(host));
  put(batch, metric, strlen(metric));
  for (size_t i = 0; i < selector_len; i++) {
    put_le(batch, strlen(selector[i]), 1);
    put(batch, selector[i], strlen(selector[i]));
  }
}

void metrics_add(test_batch *config, const char *name, int64_t frequency) {
  put_le(config, strlen(name), 2);
  put(config, name, strlen(name));
  put_le(config, (uint64_t)frequency, 8);
}

void batch_free(test_batch *batch) {
  free(batch->bytes);
  batch->bytes = NULL;
  batch->len = batch->cap = 0;
}

char *make_temp_dir(void) {
  char template_path[] = "/tmp/ccwal-c-test-XXXXXX";
  char *dir = mkdtemp(template_path);
  CHECK(dir != NULL);
  char *copy = malloc(strlen(dir) + 1);
  CHECK(copy != NULL);
  strcpy(copy, dir);
  return copy;
}

ccwal_store *open_store(const char *root, size_t shards) {
  ccwal_options *options = NULL;
  ccwal_store *store = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_options_new(STR(root), &options, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_shards(options, shards, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_store_open(options, &store, NULL));
  ccwal_options_free(options);
  return store;
}

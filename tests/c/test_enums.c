/* Enumeration values from C are plain integers, checked by ccwal: a value
 * that is none of the constants (99, -1, 12345) is refused with
 * CCWAL_INVALID_ARGUMENT and a message naming it, never taken as valid;
 * every constant still works. */
#include "common.h"

/* The enumerations are fixed-width integers, whatever the compiler's enums. */
_Static_assert(sizeof(ccwal_result) == 4, "ccwal_result is 32 bits");
_Static_assert(sizeof(ccwal_durability) == 4, "ccwal_durability is 32 bits");
_Static_assert(sizeof(ccwal_backpressure) == 4, "ccwal_backpressure is 32 bits");
_Static_assert(sizeof(ccwal_selection) == 4, "ccwal_selection is 32 bits");
_Static_assert(sizeof(ccwal_recovery) == 4, "ccwal_recovery is 32 bits");
_Static_assert(sizeof(ccwal_event_level) == 4, "ccwal_event_level is 32 bits");
_Static_assert(sizeof(ccwal_host_outcome) == 4, "ccwal_host_outcome is 32 bits");

static const int32_t bad_values[] = {99, -1, 12345, 3, INT32_MIN, INT32_MAX};
#define BAD_COUNT (sizeof bad_values / sizeof bad_values[0])

/* Checks that `error` is CCWAL_INVALID_ARGUMENT naming `what` and `value`. */
static void expect_named(ccwal_error *error, const char *what, int32_t value) {
  char needle[96];
  snprintf(needle, sizeof needle, "%s %d is not one of", what, (int)value);
  check_error(error, CCWAL_INVALID_ARGUMENT, needle);
}

static ccwal_result restore_with(const char *root, ccwal_restore_options options, ccwal_error **error) {
  ccwal_restore_result *result = NULL;
  ccwal_result rc = ccwal_restore(STR(root), 0, NULL, 0, &options, &result, error);
  CHECK((rc == CCWAL_OK) == (result != NULL));
  ccwal_restore_result_free(result);
  return rc;
}

int main(void) {
  char *root = make_temp_dir();
  ccwal_error *error = NULL;

  /* Result descriptions: unknown codes are unknown, not "ok". */
  CHECK(strcmp(ccwal_result_description(CCWAL_OK), "ok") == 0);
  CHECK(strcmp(ccwal_result_description(CCWAL_INVALID_ARGUMENT), "invalid argument") == 0);
  const int32_t unknown_codes[] = {12345, -1, 99, 1, 7200, 7211};
  for (size_t i = 0; i < sizeof unknown_codes / sizeof unknown_codes[0]; i++) {
    CHECK(strstr(ccwal_result_description(unknown_codes[i]), "unknown") != NULL);
  }

  /* Options: bad values are refused; the constants are accepted. */
  ccwal_options *options = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_options_new(STR(root), &options, NULL));
  for (size_t i = 0; i < BAD_COUNT; i++) {
    CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_options_set_durability(options, bad_values[i], 10, &error));
    expect_named(error, "durability", bad_values[i]);
    error = NULL;
    CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_options_set_backpressure(options, bad_values[i], 10, &error));
    expect_named(error, "backpressure policy", bad_values[i]);
    error = NULL;
  }
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_options_set_durability(options, 99, 10, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_durability(options, CCWAL_DURABILITY_NONE, 0, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_durability(options, CCWAL_DURABILITY_INTERVAL, 50, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_durability(options, CCWAL_DURABILITY_ALWAYS, 0, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_backpressure(options, CCWAL_BACKPRESSURE_BLOCK, 0, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_backpressure(options, CCWAL_BACKPRESSURE_REJECT, 0, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_options_set_shards(options, 1, NULL));

  /* A store opened with the last valid values (always, reject) works. */
  ccwal_store *store = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_store_open(options, &store, NULL));
  ccwal_options_free(options);
  CHECK_RESULT(CCWAL_OK, ccwal_store_append(store, STR("c"), STR("h"), STR("m"), NULL, 0, 1.5, 1700000000, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_store_sync(store, NULL));
  ccwal_store_free(store);

  /* Restore options: bad selection or recovery is refused. */
  for (size_t i = 0; i < BAD_COUNT; i++) {
    ccwal_restore_options bad_selection = {
        .struct_size = sizeof(ccwal_restore_options), .selection = bad_values[i], .workers = 1};
    CHECK_RESULT(CCWAL_INVALID_ARGUMENT, restore_with(root, bad_selection, &error));
    expect_named(error, "options->selection", bad_values[i]);
    error = NULL;
    ccwal_restore_options bad_recovery = {
        .struct_size = sizeof(ccwal_restore_options), .recovery = bad_values[i], .workers = 1};
    CHECK_RESULT(CCWAL_INVALID_ARGUMENT, restore_with(root, bad_recovery, &error));
    expect_named(error, "options->recovery", bad_values[i]);
    error = NULL;
  }
  const ccwal_selection selections[] = {CCWAL_SELECTION_COVERING, CCWAL_SELECTION_GO_EXACT};
  const ccwal_recovery recoveries[] = {CCWAL_RECOVERY_SALVAGE, CCWAL_RECOVERY_STRICT};
  for (size_t s = 0; s < 2; s++) {
    for (size_t r = 0; r < 2; r++) {
      ccwal_restore_options valid = {
          .struct_size = sizeof(ccwal_restore_options), .selection = selections[s], .recovery = recoveries[r]};
      CHECK_RESULT(CCWAL_OK, restore_with(root, valid, NULL));
    }
  }
  /* Only struct_size set: every default. Without it: refused. */
  ccwal_restore_options defaults = {.struct_size = sizeof(ccwal_restore_options)};
  CHECK_RESULT(CCWAL_OK, restore_with(root, defaults, NULL));
  ccwal_restore_options zero = {0};
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT, restore_with(root, zero, &error));
  check_error(error, CCWAL_INVALID_ARGUMENT, "options->struct_size is 0");
  error = NULL;

  free(root);
  puts("test_enums: ok");
  return 0;
}

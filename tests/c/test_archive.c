/* ccwal_archive through the C ABI: a small root archived to Parquet, the
 * report's totals, clusters and hosts; a host with a damaged snapshot keeps
 * its files and is reported with CCWAL_CORRUPT; an existing archive is never
 * replaced (the cluster's error, CCWAL_FORMAT); NULL and invalid arguments
 * give the documented codes. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define T0 1700000000

/* ROOT/CLUSTER/HOST/<from>.bin: "flops" on the node and on cpu3, ten
 * values each, one of them NaN: 18 rows. */
static void write_host(const char *root, const char *cluster, const char *host, int64_t from) {
  double values[10];
  for (int i = 0; i < 10; i++) values[i] = i == 3 ? NAN : 0.5 * i;
  ccwal_snapshot_builder *builder = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_new(from, from + 600, &builder, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_add_metric_f64(builder, STR("flops"), 60, from, values, 10, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_begin_child(builder, STR("cpu3"), NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_add_metric_f64(builder, STR("flops"), 60, from, values, 10, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_snapshot_builder_end_child(builder, NULL));
  CHECK_RESULT(CCWAL_OK, ccwal_write_snapshot(STR(root), STR(cluster), STR(host), from, builder, NULL));
  ccwal_snapshot_builder_free(builder);
}

static int exists(const char *root, const char *cluster, const char *host, int64_t from) {
  char path[512];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s/%s/%lld.bin", root, cluster, host, (long long)from);
  return stat(path, &st) == 0;
}

/* Whether the (ptr, len) string equals the C string `s`. */
static int equals(const uint8_t *ptr, size_t len, const char *s) {
  return len == strlen(s) && (len == 0 || memcmp(ptr, s, len) == 0);
}

static int contains(const uint8_t *text, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; n <= len && i <= len - n; i++) {
    if (memcmp(text + i, needle, n) == 0) return 1;
  }
  return 0;
}

static ccwal_archive_report *archive(const char *root, const char *to) {
  ccwal_archive_report *report = NULL;
  CHECK_RESULT(CCWAL_OK, ccwal_archive(STR(root), STR(to), T0, &report, NULL));
  CHECK(report != NULL);
  return report;
}

static void check_host(const ccwal_archive_report *report, size_t index, const char *cluster, const char *host,
                       ccwal_archive_host_outcome outcome, uint64_t rows, size_t files, size_t deleted,
                       ccwal_result code) {
  ccwal_archive_host h = {.struct_size = sizeof(ccwal_archive_host)};
  CHECK_RESULT(CCWAL_OK, ccwal_archive_report_host(report, index, &h, NULL));
  if (h.code != code) {
    fprintf(stderr, "host %zu: code %d, expected %d: %.*s\n", index, (int)h.code, (int)code, (int)h.message_len,
            (const char *)h.message);
    exit(1);
  }
  CHECK(equals(h.cluster, h.cluster_len, cluster) && equals(h.host, h.host_len, host));
  CHECK(h.outcome == outcome && h.rows == rows && h.files == files && h.deleted == deleted);
  CHECK(h.delete_errors == 0);
  CHECK((code == CCWAL_OK) == (h.message_len == 0));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int main(void) {
  char *dir = make_temp_dir();
  char root[256], to[256], archive_path[512];
  snprintf(root, sizeof root, "%s/checkpoints", dir);
  snprintf(to, sizeof to, "%s/archive", dir);

  /* alex/a01: two snapshots before the horizon (36 rows); alex/a02: one
   * good and one damaged; alex/a03: only one after the horizon (not in the
   * report); fritz/f01: one (18 rows). */
  write_host(root, "alex", "a01", T0 - 600);
  write_host(root, "alex", "a01", T0);
  write_host(root, "alex", "a02", T0 - 600);
  char path[512];
  snprintf(path, sizeof path, "%s/alex/a02/%d.bin", root, T0);
  FILE *file = fopen(path, "wb");
  CHECK(file != NULL && fwrite("\x01\x00\x5b\xcc garbage", 1, 12, file) == 12 && fclose(file) == 0);
  write_host(root, "alex", "a03", T0 + 600);
  write_host(root, "fritz", "f01", T0);

  ccwal_archive_report *report = archive(root, to);
  ccwal_archive_totals totals = {.struct_size = sizeof(ccwal_archive_totals)};
  CHECK_RESULT(CCWAL_OK, ccwal_archive_report_totals(report, &totals, NULL));
  CHECK(totals.clusters == 2 && totals.archives == 2 && totals.cluster_errors == 0);
  CHECK(totals.hosts == 3 && totals.hosts_archived == 2 && totals.hosts_failed == 1);
  CHECK(totals.rows == 54 && totals.bytes > 0 && totals.files_archived == 3 && totals.delete_errors == 0);

  const char *clusters[] = {"alex", "fritz"};
  const uint64_t cluster_rows[] = {36, 18};
  uint64_t bytes = 0;
  for (size_t i = 0; i < 2; i++) {
    ccwal_archive_cluster c = {.struct_size = sizeof(ccwal_archive_cluster)};
    CHECK_RESULT(CCWAL_OK, ccwal_archive_report_cluster(report, i, &c, NULL));
    snprintf(archive_path, sizeof archive_path, "%s/%s/%d.parquet", to, clusters[i], T0);
    CHECK(equals(c.cluster, c.cluster_len, clusters[i]));
    CHECK(equals(c.archive, c.archive_len, archive_path));
    CHECK(c.rows == cluster_rows[i] && c.row_groups == 1 && c.code == CCWAL_OK && c.message_len == 0);
    struct stat st;
    CHECK(stat(archive_path, &st) == 0 && (uint64_t)st.st_size == c.bytes);
    bytes += c.bytes;
  }
  CHECK(bytes == totals.bytes);

  /* By cluster, then host. */
  check_host(report, 0, "alex", "a01", CCWAL_ARCHIVE_HOST_ARCHIVED, 36, 2, 2, CCWAL_OK);
  check_host(report, 1, "alex", "a02", CCWAL_ARCHIVE_HOST_FAILED, 0, 2, 0, CCWAL_CORRUPT);
  check_host(report, 2, "fritz", "f01", CCWAL_ARCHIVE_HOST_ARCHIVED, 18, 1, 1, CCWAL_OK);
  ccwal_archive_host damaged = {.struct_size = sizeof(ccwal_archive_host)};
  CHECK_RESULT(CCWAL_OK, ccwal_archive_report_host(report, 1, &damaged, NULL));
  snprintf(path, sizeof path, "%d.bin", T0);
  CHECK(contains(damaged.message, damaged.message_len, path));

  /* The archived snapshots are gone; the damaged host's and the one after
   * the horizon stay. */
  CHECK(!exists(root, "alex", "a01", T0 - 600) && !exists(root, "alex", "a01", T0));
  CHECK(exists(root, "alex", "a02", T0 - 600) && exists(root, "alex", "a02", T0));
  CHECK(exists(root, "alex", "a03", T0 + 600) && !exists(root, "fritz", "f01", T0));

  /* Indexes out of range and NULL outputs or handles. */
  ccwal_error *error = NULL;
  ccwal_archive_host h = {.struct_size = sizeof(ccwal_archive_host)};
  ccwal_archive_cluster c = {.struct_size = sizeof(ccwal_archive_cluster)};
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_archive_report_host(report, 3, &h, &error));
  check_error(error, CCWAL_INVALID_ARGUMENT, "host index 3 of 3");
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_archive_report_cluster(report, 2, &c, &error));
  check_error(error, CCWAL_INVALID_ARGUMENT, "cluster index 2 of 2");
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_archive_report_host(report, 0, NULL, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_archive_report_cluster(report, 0, NULL, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_archive_report_totals(report, NULL, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_archive_report_totals(NULL, &totals, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_archive_report_host(NULL, 0, &h, NULL));
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_archive_report_cluster(NULL, 0, &c, NULL));
  ccwal_archive_report_free(report);
  ccwal_archive_report_free(NULL);

  /* Again with the same horizon and a new host of fritz: both clusters'
   * archives exist and are not replaced, so both fail (before a snapshot
   * is read: the hosts carry the cluster's error) and every host keeps its
   * snapshots. */
  write_host(root, "fritz", "f02", T0);
  report = archive(root, to);
  CHECK_RESULT(CCWAL_OK, ccwal_archive_report_totals(report, &totals, NULL));
  CHECK(totals.clusters == 2 && totals.archives == 0 && totals.cluster_errors == 2);
  CHECK(totals.hosts == 2 && totals.hosts_failed == 2 && totals.rows == 0 && totals.files_archived == 0);
  check_host(report, 0, "alex", "a02", CCWAL_ARCHIVE_HOST_FAILED, 0, 2, 0, CCWAL_FORMAT);
  check_host(report, 1, "fritz", "f02", CCWAL_ARCHIVE_HOST_FAILED, 0, 1, 0, CCWAL_FORMAT);
  for (size_t i = 0; i < 2; i++) {
    CHECK_RESULT(CCWAL_OK, ccwal_archive_report_cluster(report, i, &c, NULL));
    CHECK(c.code == CCWAL_FORMAT && c.archive_len == 0 && c.rows == 0 && c.row_groups == 0);
    CHECK(contains(c.message, c.message_len, "not replaced"));
  }
  CHECK(exists(root, "fritz", "f02", T0));
  ccwal_archive_report_free(report);

  /* Arguments: NULL output, NULL or empty paths. */
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_archive(STR(root), STR(to), T0, NULL, &error));
  check_error(error, CCWAL_NULL_ARGUMENT, "report_out");
  report = NULL;
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_archive(NULL, 3, STR(to), T0, &report, &error));
  check_error(error, CCWAL_NULL_ARGUMENT, "root");
  CHECK_RESULT(CCWAL_NULL_ARGUMENT, ccwal_archive(STR(root), NULL, 3, T0, &report, NULL));
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_archive(NULL, 0, STR(to), T0, &report, &error));
  check_error(error, CCWAL_INVALID_ARGUMENT, "must not be empty");
  CHECK_RESULT(CCWAL_INVALID_ARGUMENT, ccwal_archive(STR(root), (const uint8_t *)"", 0, T0, &report, NULL));
  CHECK(report == NULL); /* outputs are written only on success */

  (void)nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(dir);
  return 0;
}

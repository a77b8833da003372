// The header compiled as C++: a small round trip with RAII around the
// handles.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

extern "C" {
#include "common.h"
}

namespace {

struct StoreDeleter {
  void operator()(ccwal_store *store) const { ccwal_store_free(store); }
};
struct ResultDeleter {
  void operator()(ccwal_restore_result *result) const { ccwal_restore_result_free(result); }
};

const uint8_t *bytes(const std::string &s) { return reinterpret_cast<const uint8_t *>(s.data()); }

}  // namespace

int main() {
  std::unique_ptr<char, decltype(&std::free)> root(make_temp_dir(), &std::free);
  {
    std::unique_ptr<ccwal_store, StoreDeleter> store(open_store(root.get(), 1));
    const std::string cluster = "cpp", host = "node", metric = "load";
    for (int i = 0; i < 3; i++) {
      CHECK_RESULT(CCWAL_OK, ccwal_store_append(store.get(), bytes(cluster), cluster.size(), bytes(host), host.size(),
                                                bytes(metric), metric.size(), nullptr, 0, 0.5 * i, 1700000000 + 60 * i,
                                                nullptr));
    }
    CHECK_RESULT(CCWAL_OK, ccwal_store_sync(store.get(), nullptr));
  }
  test_batch config = {nullptr, 0, 0};
  metrics_add(&config, "load", 60);
  ccwal_restore_result *raw = nullptr;
  CHECK_RESULT(CCWAL_OK, ccwal_restore(reinterpret_cast<const uint8_t *>(root.get()), std::strlen(root.get()), 0,
                                       config.bytes, config.len, nullptr, &raw, nullptr));
  std::unique_ptr<ccwal_restore_result, ResultDeleter> result(raw);
  ccwal_chunk chunk{};
  chunk.struct_size = sizeof chunk;
  CHECK_RESULT(CCWAL_OK, ccwal_restore_chunk(result.get(), 0, 0, 0, 0, &chunk, nullptr));
  CHECK(chunk.len == 3 && chunk.values[2] == 1.0);
  batch_free(&config);
  std::puts("test_cpp: ok");
  return 0;
}

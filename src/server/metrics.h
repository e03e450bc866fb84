// Counters for GET /metrics, rendered in the Prometheus text format.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "storage/store.h"

namespace amstore {

class Metrics {
 public:
  void request(const std::string& route, const std::string& method, int status,
               uint64_t bytes_in, uint64_t bytes_out);
  void merge_latency(double seconds);
  std::string render(const StoreStats& store) const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    5};
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  uint64_t bytes_in_ = 0, bytes_out_ = 0;
  std::array<uint64_t, kBuckets.size()> merge_buckets_{};  // non-cumulative
  uint64_t merge_count_ = 0;
  double merge_sum_ = 0;
};

}  // namespace amstore

#include "server/metrics.h"

#include <cstdio>

namespace amstore {

void Metrics::request(const std::string& route, const std::string& method, int status,
                      uint64_t bytes_in, uint64_t bytes_out) {
  std::lock_guard<std::mutex> g(mu_);
  ++requests_[{route, method, status}];
  bytes_in_ += bytes_in;
  bytes_out_ += bytes_out;
}

void Metrics::merge_latency(double seconds) {
  std::lock_guard<std::mutex> g(mu_);
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++merge_buckets_[i];
      break;
    }
  }
  ++merge_count_;
  merge_sum_ += seconds;
}

std::string Metrics::render(const StoreStats& store) const {
  std::string out;
  char line[256];
  std::lock_guard<std::mutex> g(mu_);
  out += "# HELP amstore_http_requests_total HTTP requests by route, method and status.\n";
  out += "# TYPE amstore_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    std::snprintf(line, sizeof line,
                  "amstore_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
                  route.c_str(), method.c_str(), status, static_cast<unsigned long long>(n));
    out += line;
  }
  out += "# HELP amstore_http_request_bytes_total Request body bytes received.\n";
  out += "# TYPE amstore_http_request_bytes_total counter\n";
  out += "amstore_http_request_bytes_total " + std::to_string(bytes_in_) + "\n";
  out += "# HELP amstore_http_response_bytes_total Response body bytes sent.\n";
  out += "# TYPE amstore_http_response_bytes_total counter\n";
  out += "amstore_http_response_bytes_total " + std::to_string(bytes_out_) + "\n";

  out += "# HELP amstore_merge_duration_seconds Time to merge an upload into the store.\n";
  out += "# TYPE amstore_merge_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    cumulative += merge_buckets_[i];
    std::snprintf(line, sizeof line, "amstore_merge_duration_seconds_bucket{le=\"%g\"} %llu\n",
                  kBuckets[i], static_cast<unsigned long long>(cumulative));
    out += line;
  }
  out += "amstore_merge_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(merge_count_) +
         "\n";
  std::snprintf(line, sizeof line, "amstore_merge_duration_seconds_sum %.9f\n", merge_sum_);
  out += line;
  out += "amstore_merge_duration_seconds_count " + std::to_string(merge_count_) + "\n";

  out += "# HELP amstore_documents Documents in the data directory.\n";
  out += "# TYPE amstore_documents gauge\n";
  out += "amstore_documents " + std::to_string(store.documents) + "\n";
  out += "# HELP amstore_compactions_total Log compactions done by this process.\n";
  out += "# TYPE amstore_compactions_total counter\n";
  out += "amstore_compactions_total " + std::to_string(store.compactions) + "\n";
  out += "# HELP amstore_cache_bytes Approximate memory held by cached documents.\n";
  out += "# TYPE amstore_cache_bytes gauge\n";
  out += "amstore_cache_bytes " + std::to_string(store.cache_bytes) + "\n";
  out += "# HELP amstore_cache_documents Documents held in the cache.\n";
  out += "# TYPE amstore_cache_documents gauge\n";
  out += "amstore_cache_documents " + std::to_string(store.cache_entries) + "\n";
  return out;
}

}  // namespace amstore

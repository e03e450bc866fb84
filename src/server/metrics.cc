#include "server/metrics.h"

#include <cstdio>
#include <string_view>

namespace amstore {

void Metrics::request(const std::string& route, const std::string& method, int status,
                      uint64_t bytes_in, uint64_t bytes_out) {
  // The method comes from the client, who could otherwise add a series per request (and
  // lines longer than render() writes): the methods of HTTP, else "other".
  static constexpr std::string_view kMethods[] = {"GET",    "HEAD",    "POST",  "PUT",
                                                  "DELETE", "OPTIONS", "PATCH", "CONNECT",
                                                  "TRACE"};
  std::string_view label = "other";
  for (std::string_view m : kMethods)
    if (method == m) label = m;
  std::lock_guard<std::mutex> g(mu_);
  ++requests_[{route, std::string(label), status}];
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

namespace {
// One metric without labels: its HELP and TYPE lines and its value.
void add_metric(std::string& out, const char* name, const char* type, const char* help,
                uint64_t value) {
  out += std::string("# HELP ") + name + " " + help + "\n";
  out += std::string("# TYPE ") + name + " " + type + "\n";
  out += std::string(name) + " " + std::to_string(value) + "\n";
}
}  // namespace

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
  add_metric(out, "amstore_http_request_bytes_total", "counter", "Request body bytes received.",
             bytes_in_);
  add_metric(out, "amstore_http_response_bytes_total", "counter", "Response body bytes sent.",
             bytes_out_);

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

  add_metric(out, "amstore_documents", "gauge", "Documents in the data directory.",
             store.documents);
  add_metric(out, "amstore_compactions_total", "counter", "Log compactions done by this process.",
             store.compactions);
  out += "# HELP amstore_repairs_total Document files mended by this process: a crash's torn "
         "log append cut off, damage on disk in a log or a snapshot (its whole chunks kept, "
         "its damaged bytes set aside), or changes the files lacked put back from memory.\n";
  out += "# TYPE amstore_repairs_total counter\n";
  out += "amstore_repairs_total{kind=\"torn_log_tail\"} " + std::to_string(store.torn_log_tails) +
         "\n";
  out += "amstore_repairs_total{kind=\"damaged_log\"} " + std::to_string(store.damaged_logs) +
         "\n";
  out += "amstore_repairs_total{kind=\"damaged_snapshot\"} " +
         std::to_string(store.damaged_snapshots) + "\n";
  out += "amstore_repairs_total{kind=\"restored_from_memory\"} " +
         std::to_string(store.restored_from_memory) + "\n";
  add_metric(out, "amstore_json_renders_total", "counter",
             "JSON views rendered (GET /:id/json); an unchanged document's is served again.",
             store.json_renders);
  add_metric(out, "amstore_cache_bytes", "gauge", "Approximate memory held by cached documents.",
             store.cache_bytes);
  add_metric(out, "amstore_cache_documents", "gauge", "Documents held in the cache.",
             store.cache_entries);
  return out;
}

}  // namespace amstore

// Format-core benchmark: times one operation of amstore::Document on one payload and
// prints one JSON object. Run by bench/format/run, one process per operation, so that
// the process's peak RSS belongs to that operation.
//
//   format_bench load  RUNS DOC        Document::load(DOC bytes)
//   format_bench load-lean RUNS DOC    the same into a lean document (as the server loads)
//   format_bench save  RUNS DOC        Document::save() of a document loaded once, untimed
//   format_bench save-lean RUNS DOC    the same, the document lean (as the server caches it)
//   format_bench save-first RUNS DOC   the first save() of a document just loaded (untimed):
//                                      it builds the op set that later saves reuse
//   format_bench merge RUNS A B        Document::load(A bytes), merge(B bytes), save()
//   format_bench merge-held RUNS A B   merge(B bytes), save() into a document loaded from A
//                                      and saved once before timing (a document held in memory)
//   format_bench read-upload RUNS DOC  what the server does with an upload before it merges:
//                                      Document::prepare (chunk checksums, headers), then
//                                      decode_against with nothing known (inflating the
//                                      columns, the change rows); also reports prepare alone
//   format_bench merge-upload RUNS A B  an upload merged as the server merges it: prepare(B),
//                                      skip_held, decode_against and merge into a lean
//                                      document loaded from A (each run, untimed)
//   format_bench info  DOC             changes, ops, heads of DOC (untimed)
//
// Inputs are read into memory before timing. Each operation runs once untimed (warm-up),
// then RUNS timed times; the result of a run is destroyed after its clock stops. RUNS
// "paced": timed runs one at a time, when asked on stdin (see main; bench/format/run).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "automerge/document.h"
#include "cli/malloc_tunables.h"

namespace {

using amstore::Bytes;
using amstore::ByteView;
using amstore::Document;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "format_bench: %s\n", msg.c_str());
  std::exit(1);
}

Bytes read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die(std::string("cannot read ") + path);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

long max_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;  // kilobytes on Linux
}

Document load_or_die(ByteView bytes, bool lean = false) {
  auto r = Document::load(bytes, lean);
  if (!r.ok()) die("load: " + r.status().message());
  return std::move(r).value();
}

Bytes save_or_die(const Document& d) {
  auto r = d.save();
  if (!r.ok()) die("save: " + r.status().message());
  return std::move(r).value();
}

std::string heads_json(const Document& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.heads().size(); ++i) {
    if (i) s.push_back(',');
    s.push_back('"');
    s.append(amstore::to_hex(d.heads()[i]));
    s.push_back('"');
  }
  s.push_back(']');
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  amstore::set_malloc_tunables(argv);  // as the amstore binary does
  if (argc < 3) die("usage: format_bench load|load-lean|save|save-lean|save-first|merge|merge-held|read-upload|merge-upload RUNS|paced FILE [FILE2] | info FILE");
  std::string op = argv[1];
  using Clock = std::chrono::steady_clock;

  if (op == "info") {
    Bytes bytes = read_file(argv[2]);
    Document d = load_or_die(bytes);
    size_t ops = 0;
    for (const auto& c : d.changes()) ops += c->change.ops.size();
    std::printf("{\"op\":\"info\",\"bytes\":%zu,\"changes\":%zu,\"pending\":%zu,\"ops\":%zu,\"heads\":%s}\n",
                bytes.size(), d.changes().size(), d.pending().size(), ops, heads_json(d).c_str());
    return 0;
  }

  // RUNS "paced": after the warm-up, "ready" on stdout, then one timed run per line read
  // from stdin, each answered with its milliseconds; the JSON object after stdin ends.
  // bench/format/pace.mjs alternates this process's runs with the library's.
  const bool paced = std::string(argv[2]) == "paced";
  int runs = paced ? 0 : std::atoi(argv[2]);
  if (!paced && runs < 1) die("RUNS must be at least 1 (or \"paced\")");
  const bool two_inputs = op == "merge" || op == "merge-held" || op == "merge-upload";
  if (argc < 4 || (two_inputs && argc < 5)) die("missing input file");
  Bytes a = read_file(argv[3]);
  Bytes b = two_inputs ? read_file(argv[4]) : Bytes();
  long rss_inputs = max_rss_kb();

  std::vector<double> ms;
  std::vector<double> prepare_ms;  // read-upload: prepare() alone
  std::string heads = "[]";  // (read-upload makes no document)
  size_t out_bytes = 0;
  Document loaded;  // for save
  // save-lean: as the server saves its cached documents (ops dropped, decoded again).
  if (op == "save" || op == "save-lean") loaded = load_or_die(a, op == "save-lean");
  long rss_before = max_rss_kb();

  // Run i (0: the warm-up), its time kept for i > 0; what it made is freed before it returns.
  auto run = [&](int i) {
    auto t0 = Clock::now();
    Clock::time_point t1;
    if (op == "save-first") {
      Document d = load_or_die(a);
      t0 = Clock::now();
      Bytes out = save_or_die(d);
      t1 = Clock::now();
      out_bytes = out.size();
      if (i == 0) heads = heads_json(d);
    } else if (op == "load" || op == "load-lean") {
      Document d = load_or_die(a, op == "load-lean");
      t1 = Clock::now();
      if (i == 0) heads = heads_json(d);
    } else if (op == "save" || op == "save-lean") {
      Bytes out = save_or_die(loaded);
      t1 = Clock::now();
      out_bytes = out.size();
    } else if (op == "merge" || op == "merge-held") {
      Document d = load_or_die(a);
      if (op == "merge-held") {  // a document held in memory: loaded and saved before
        save_or_die(d);
        t0 = Clock::now();
      }
      auto st = d.merge(b);
      if (!st.ok()) die("merge: " + st.status().message());
      Bytes out = save_or_die(d);
      t1 = Clock::now();
      out_bytes = out.size();
      if (i == 0) heads = heads_json(d);
    } else if (op == "read-upload") {
      auto up = Document::prepare(a);
      if (!up.ok()) die("prepare: " + up.status().message());
      const Clock::time_point tp = Clock::now();
      amstore::Status st = up->decode_against(nullptr);
      t1 = Clock::now();
      if (!st.ok()) die("read: " + st.message());
      if (i > 0) prepare_ms.push_back(std::chrono::duration<double, std::milli>(tp - t0).count());
    } else if (op == "merge-upload") {
      Document d = load_or_die(a, true);
      t0 = Clock::now();
      auto up = Document::prepare(b);
      if (!up.ok()) die("prepare: " + up.status().message());
      up->skip_held(d);
      amstore::Status st = up->decode_against(d.known_changes());
      if (!st.ok()) die("decode: " + st.message());
      auto merged = d.merge(std::move(up).value());
      t1 = Clock::now();
      if (!merged.ok()) die("merge: " + merged.status().message());
      if (i == 0) heads = heads_json(d);
    } else {
      die("unknown operation " + op);
    }
    if (i > 0) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  };
  run(0);
  if (paced) {
    std::printf("ready\n");
    std::fflush(stdout);
    char line[64];
    while (std::fgets(line, sizeof line, stdin)) {
      run(++runs);
      std::printf("%.3f\n", ms.back());
      std::fflush(stdout);
    }
    if (runs == 0) die("paced: no run was asked for");
  } else {
    for (int i = 1; i <= runs; ++i) run(i);
  }
  if (op == "save" || op == "save-lean") heads = heads_json(loaded);

  auto median_of = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? -1.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  };
  double sum = 0;
  for (double t : ms) sum += t;
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = median_of(ms);
  std::string times;
  for (size_t i = 0; i < ms.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.3f", i ? "," : "", ms[i]);
    times.append(buf);
  }
  std::printf(
      "{\"impl\":\"amstore\",\"op\":\"%s\",\"runs\":%d,\"median_ms\":%.3f,\"mean_ms\":%.3f,"
      "\"min_ms\":%.3f,\"times_ms\":[%s],\"peak_rss_kb\":%ld,\"rss_inputs_kb\":%ld,"
      "\"rss_before_kb\":%ld,\"out_bytes\":%zu,\"heads\":%s,\"prepare_median_ms\":%.3f}\n",
      op.c_str(), runs, median, sum / static_cast<double>(ms.size()), sorted.front(),
      times.c_str(), max_rss_kb(), rss_inputs, rss_before, out_bytes, heads.c_str(),
      median_of(prepare_ms));
  return 0;
}

// The amstore command line: format tools (show, heads, changes, merge, inspect) and serve.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <map>

#include "automerge/chunk.h"
#include "automerge/doc_chunk.h"
#include "automerge/document.h"
#include "automerge/json_view.h"
#include "automerge/op_set.h"
#include "cli/commands.h"
#include "cli/malloc_tunables.h"
#include "storage/files.h"

namespace amstore {
namespace {

// Failures end the process with one line on stderr and exit status 1.
[[noreturn]] void fail(const std::string& what) {
  std::cerr << "amstore: " << what << "\n";
  std::exit(1);
}

Bytes read_file(const std::string& path) {
  Bytes data;
  std::string error;
  if (!read_whole_file(path, &data, &error)) fail(error);
  return data;
}

Document load_file(const std::string& path) {
  Bytes data = read_file(path);
  auto doc = Document::load(data);
  if (!doc.ok()) fail(path + ": " + doc.status().message());
  return std::move(doc).value();
}

std::vector<const StoredChange*> change_list(const Document& doc) {
  std::vector<const StoredChange*> list;
  for (const auto& c : doc.changes()) list.push_back(c.get());
  return list;
}

void cmd_show(const std::string& path) {
  Document doc = load_file(path);
  auto json = doc.to_json();
  if (!json.ok()) fail(path + ": " + json.status().message());
  std::cout << json.value() << "\n";
}

void cmd_heads(const std::string& path) {
  Document doc = load_file(path);
  for (const auto& h : doc.heads()) std::cout << to_hex(h) << "\n";
}

void cmd_changes(const std::string& path) {
  Document doc = load_file(path);
  std::string line;
  for (const auto* list : {&doc.changes(), &doc.pending()}) {
    for (const auto& sc : *list) {
      const Change& c = sc->change;
      line = "{\"hash\":\"" + to_hex(sc->hash) + "\",\"actor\":\"" + to_hex(as_bytes(c.author())) +
             "\",\"seq\":" + std::to_string(c.seq) + ",\"startOp\":" + std::to_string(c.start_op) +
             ",\"time\":" + std::to_string(c.time) + ",\"message\":";
      if (c.message().empty()) line += "null"; else append_json_string(line, c.message());
      line += ",\"deps\":[";
      for (size_t i = 0; i < c.deps.size(); ++i) {
        if (i) line += ",";
        line += '"';
        line += to_hex(c.deps[i]);
        line += '"';
      }
      line += "]";
      if (list == &doc.pending()) line += ",\"pending\":true";
      line += "}\n";
      std::cout << line;
    }
  }
}

void cmd_merge(const std::string& out_path, const std::vector<std::string>& inputs) {
  Document doc;
  for (const auto& path : inputs) {
    Bytes data = read_file(path);
    auto r = doc.merge(data);
    if (!r.ok()) fail(path + ": " + r.status().message());
  }
  auto bytes = doc.save();
  if (!bytes.ok()) fail("cannot save the merged document: " + bytes.status().message());
  // Beside the output, so that the rename is atomic; the output is the old file or the new
  // one, never a part.
  const std::filesystem::path out(out_path);
  const std::string dir = out.has_parent_path() ? out.parent_path().string() : ".";
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) fail(errno_text("open", dir));
  const std::string name = out.filename().string();
  std::string error;
  bool ok = replace_file(dir_fd, name, name + ".tmp." + std::to_string(::getpid()), *bytes, &error);
  ::close(dir_fd);
  if (!ok) fail(error);
}

void cmd_inspect(const std::string& path) {
  Bytes data = read_file(path);
  std::vector<Chunk> chunks;
  Status s = read_chunks(data, &chunks);
  if (!s.ok()) fail(path + ": " + s.message());
  static const char* kNames[] = {"document", "change", "compressed change", "bundle"};
  std::cout << path << ": " << data.size() << " bytes, " << chunks.size() << " chunk(s)\n";
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    std::cout << "  chunk " << i << ": " << kNames[static_cast<int>(c.type)] << ", "
              << c.bytes.size() << " bytes";
    if (c.type == ChunkType::kDocument) {
      auto plain = inflate_document_body(c.body);
      if (plain.ok())
        std::cout << ", body " << c.body.size() << " bytes stored, " << plain->size()
                  << " bytes with columns inflated";
    } else if (c.type == ChunkType::kCompressedChange) {
      std::cout << ", body " << c.body.size() << " bytes inflated";
    }
    std::cout << ", hash " << to_hex(c.hash) << "\n";
  }
  Document doc = load_file(path);
  std::map<std::string, size_t> actors;
  size_t ops = 0;
  for (const auto& sc : doc.changes()) {
    actors[std::string(sc->change.author())]++;
    ops += sc->change.ops.size();
  }
  std::cout << "changes: " << doc.changes().size() << " (+" << doc.pending().size()
            << " waiting for dependencies), ops: " << ops << "\n";
  std::cout << "actors: " << actors.size() << "\n";
  for (const auto& [a, n] : actors) std::cout << "  " << to_hex(as_bytes(a)) << ": " << n << " changes\n";
  std::cout << "heads:\n";
  for (const auto& h : doc.heads()) std::cout << "  " << to_hex(h) << "\n";
  auto set = build_op_set(change_list(doc));
  if (!set.ok()) fail(path + ": " + set.status().message());
  size_t by_type[3] = {0, 0, 0}, objects[3] = {0, 0, 0};
  for (const auto& o : set->objects) {
    by_type[static_cast<int>(o.type)] += o.end - o.begin;
    objects[static_cast<int>(o.type)]++;
  }
  std::cout << "stored ops by object type (deletes excluded):\n"
            << "  map:  " << objects[0] << " objects, " << by_type[0] << " ops\n"
            << "  list: " << objects[1] << " objects, " << by_type[1] << " ops\n"
            << "  text: " << objects[2] << " objects, " << by_type[2] << " ops\n";
  auto compact = doc.save(true);
  auto plain = doc.save(false);
  if (compact.ok() && plain.ok())
    std::cout << "saved as one document: " << compact->size() << " bytes compressed, "
              << plain->size() << " bytes uncompressed\n";
}

}  // namespace
}  // namespace amstore

int main(int argc, char** argv) {
  using namespace amstore;
  set_malloc_tunables(argv);
  CLI::App app{"amstore: a server and tools for Automerge documents"};
  app.require_subcommand(1);
  std::string file, out;
  std::vector<std::string> inputs;

  auto* show = app.add_subcommand("show", "Print the document's current value as JSON");
  show->add_option("FILE", file, "Automerge file")->required();
  show->callback([&] { cmd_show(file); });

  auto* heads = app.add_subcommand("heads", "Print the heads, sorted hex, one per line");
  heads->add_option("FILE", file, "Automerge file")->required();
  heads->callback([&] { cmd_heads(file); });

  auto* changes = app.add_subcommand("changes", "Print one JSON object per change");
  changes->add_option("FILE", file, "Automerge file")->required();
  changes->callback([&] { cmd_changes(file); });

  auto* merge = app.add_subcommand("merge", "Merge files into one compact document");
  merge->add_option("-o,--output", out, "Output file")->required();
  merge->add_option("FILES", inputs, "Automerge files")->required();
  merge->callback([&] { cmd_merge(out, inputs); });

  auto* inspect = app.add_subcommand("inspect", "Summarise a file for humans");
  inspect->add_option("FILE", file, "Automerge file")->required();
  inspect->callback([&] { cmd_inspect(file); });

  add_serve_command(app);
  add_check_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "amstore: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

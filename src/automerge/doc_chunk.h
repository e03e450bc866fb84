// The document chunk (spec §6): Algorithm A (document → changes, with head verification)
// and Algorithm B (changes → document).
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "automerge/change.h"
#include "automerge/change_index.h"
#include "automerge/columns.h"
#include "automerge/op_set.h"

namespace amstore {

// The hash of the change by `actor` with `seq` that the caller already has, or null. The
// changes a caller has of an actor are a prefix of its seqs (1..n): decode_document finds n
// with a few calls per actor, then asks only for the hashes it needs (deps of new changes,
// heads), not one per change row.
using KnownChange = std::function<const ChangeHash*(std::string_view actor, uint64_t seq)>;
// Called with each regenerated change, whole (chunk and hash made), in stored order, as soon
// as it is made: while it is still in cache. An error stops decoding and is returned.
using ChangeSink = std::function<Status(const StoredChange& change)>;

class ChangeColumns;

// A document chunk body read as far as it can be without the caller's state: columns
// inflated, change rows decoded. Views into the body, which must outlive it.
class ParsedDocument {
 public:
  ParsedDocument();
  ParsedDocument(ParsedDocument&&) noexcept;
  ParsedDocument& operator=(ParsedDocument&&) noexcept;
  ~ParsedDocument();
  const std::vector<ChangeHash>& heads() const;
  bool columns_read() const;
  // Op rows in the op columns (once the columns are read): about the ops decoding makes,
  // known before any is made.
  size_t op_rows() const;
  // Entries in the successor columns. Decoding makes an op of every row and a delete op for
  // some successors, so op_rows() + succ_rows() bounds the ops it makes.
  size_t succ_rows() const;
  // Change rows (once the columns are read): the changes decoding makes.
  size_t change_rows() const;

 private:
  friend Status parse_document_header(ByteView body, ParsedDocument* parsed);
  friend Status check_document_deflate_strict(ByteView chunk);
  friend Status parse_document_columns(ParsedDocument* parsed, size_t* inflate_budget);
  friend Status decode_document(const ParsedDocument& parsed,
                                std::vector<std::unique_ptr<StoredChange>>* changes,
                                const KnownChange& known, const ChangeSink& sink,
                                std::vector<uint32_t>* doc_order, bool lean,
                                ChangeColumns* change_columns,
                                std::unique_ptr<ChangeHash[]>* hashes);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
// The header only: actors, heads and where the columns are. Cheap: nothing is inflated, so
// a document whose heads the caller already holds can be passed over at this point.
Status parse_document_header(ByteView body, ParsedDocument* parsed);
// The rest, after the header: columns inflated, change rows decoded. Once; again is a no-op.
// The columns inflate to at most `*inflate_budget` bytes in all, which they then use up
// (without a budget: inflate_budget_for the body).
Status parse_document_columns(ParsedDocument* parsed, size_t* inflate_budget = nullptr);
// Both.
Status parse_document(ByteView body, ParsedDocument* parsed);
// For a document kept as it came (one whole document chunk, loaded already, so its checksum
// is not verified again): whether its compressed columns pass check_deflate_strict, so that
// the library can inflate them too.
Status check_document_deflate_strict(ByteView chunk);

// Algorithm A. Regenerates the changes of a document chunk body, in stored (causal) order,
// and checks that the computed heads equal the stored heads. With `known`, changes the
// caller already has are not regenerated (nor returned): merging a document costs in
// proportion to what is new, plus one pass over its columns. Each change is allocated on its
// own, as Document keeps them.
Status decode_document(ByteView body, std::vector<std::unique_ptr<StoredChange>>* changes,
                       const KnownChange& known = nullptr);
// The same on a parsed body (the parse can run before the caller takes its locks), with
// `sink`, if given, called on each change as it is made. `doc_order`, if given, receives
// the document's op order (OpSet::order) when every change is regenerated and not `lean`:
// per op row, the index of its op among the returned changes' ops, back to back.
// The rows were checked to be in document order, so an op set of exactly these changes
// can take it instead of ordering every object again (OpSetBuilder::add).
// `lean`: the changes returned hold only their hash, chunk, seq, startOp and
// time, and each is made in one scratch change (which the sink sees: its change and hash,
// not its chunk, which is sealed straight into the change returned). A caller that keeps
// only chunks (a lean document) then neither holds every op of a large document at once nor
// allocates and frees the rest of every change. `change_columns`, if given, receives the
// chunk's change columns as a first save takes them up (ChangeColumns::take_loaded) when
// every change is regenerated and not `lean`, and they are in the form it takes; else it
// is left empty.
// `hashes`, if given, receives the hash of each change row, in a flat array (the rows
// regenerated only: a known row's entry is left unset), for a caller that goes over them
// all again: the changes themselves lie hundreds of bytes apart.
Status decode_document(const ParsedDocument& parsed,
                       std::vector<std::unique_ptr<StoredChange>>* changes,
                       const KnownChange& known = nullptr, const ChangeSink& sink = nullptr,
                       std::vector<uint32_t>* doc_order = nullptr, bool lean = false,
                       ChangeColumns* change_columns = nullptr,
                       std::unique_ptr<ChangeHash[]>* hashes = nullptr);

// Algorithm B. `changes` must be in causal order and closed under dependencies. Returns the
// whole chunk (header included). With `compress`, columns of 256 bytes or more are DEFLATEd.
// `positions`, if the caller keeps one, gives each change's index in `changes` by its hash
// (saves building that table here).
Result<Bytes> encode_document(const std::vector<const StoredChange*>& changes, bool compress,
                              const ChangeIndex* positions = nullptr);
// The change columns of a document chunk (a row per change, in causal order), kept by a
// document from one save to the next: its changes are only ever appended, so a save encodes
// the rows of the changes added since. Holds views into the changes (their messages).
class ChangeColumns {
 public:
  // Encodes the rows of changes[rows()..] (all of them again if the op set's actors changed,
  // as their indexes may have). `row_of`: each change's index in `changes`. On failure it
  // is emptied.
  Status extend(const std::vector<const StoredChange*>& changes, const OpSet& ops,
                const ChangeIndex& row_of);
  // Adds the columns to `cw`, which then holds views into them; no rows can follow.
  void finish(ColumnWriter& cw);
  // Takes up the change columns of a document chunk as it was loaded (every row, in its
  // order; decode_document does this), instead of encoding its rows again at the first
  // save: a typed text's 10^5 rows took a third of that save. Their form is the one extend()
  // writes, as the loader accepts only canonical columns. False, and nothing taken, when a
  // change has a message or extra bytes (rare: those rows are encoded as usual), when a
  // column holds a value in a form extend() does not write (a null time or deps count, which
  // the loader reads as 0), or when the columns do not hold `rows` rows and `deps` deps. `actors`: how many the document lists,
  // which are exactly its changes' authors (checked when it is parsed); an op set of these
  // changes and later ones has as many only if no actor joined (extend() rewrites the
  // author column when one did).
  bool take_loaded(const std::vector<Column>& columns, size_t rows, size_t deps,
                   size_t actors, const std::vector<bool>& is_dep);
  // Per row: whether a later change depends on it (the others are the heads).
  const std::vector<bool>& is_dep() const { return is_dep_; }
  // How many rows it holds.
  size_t rows() const { return rows_; }

 private:
  UintEncoder actor_, deps_group_;
  DeltaEncoder seq_, max_op_, time_, deps_index_;
  StringEncoder message_;
  ValueEncoder extra_;
  std::vector<bool> is_dep_;
  size_t rows_ = 0;
  size_t actors_ = 0;  // the op set's actors when the rows were encoded
};

// The same from the op set of `changes` (build_op_set's, or an OpSetBuilder's); `kept`,
// if given, the change columns of a previous save of the same changes' first rows.
Result<Bytes> encode_document(const OpSet& ops, const std::vector<const StoredChange*>& changes,
                              bool compress, const ChangeIndex* positions = nullptr,
                              ChangeColumns* kept = nullptr);

// A document chunk body with every DEFLATEd column stored plain instead (for comparing
// documents written by different DEFLATE implementations).
Result<Bytes> inflate_document_body(ByteView body);

}  // namespace amstore

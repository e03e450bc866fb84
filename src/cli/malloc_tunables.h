// Process start-up: glibc malloc settings for a process that loads and saves large documents.
#pragma once

#include <string_view>

namespace amstore {

// Whether the GLIBC_TUNABLES of this process already sets `name` (e.g. "glibc.malloc.hugetlb"):
// a user's choice, which start-up settings leave alone.
bool glibc_tunable_given(std::string_view name);

// Loading or saving a large document allocates and frees hundreds of megabytes, and a page
// fault is slow on a virtual machine. Two glibc tunables, each unless GLIBC_TUNABLES already
// sets it:
// - glibc.malloc.hugetlb=1, when the kernel offers transparent huge pages on request
//   ("madvise" mode): large blocks come in 2 MiB pages instead of 4 KiB ones (about a fifth
//   of a 1 MB document's save went to page faults).
// - glibc.malloc.top_pad=256 MiB: memory freed at the top of the heap is kept, up to that
//   much, instead of given back to the kernel, so the next large document reuses pages
//   already faulted in (by default glibc trims the heap back as soon as its top is free,
//   and every load of a 1 MB document faulted its ~100 MB of ops in again). The cost: up
//   to that much freed memory stays resident, and can add to a later peak.
// Tunables are read only when a process starts, so this sets them and re-executes the
// program in place (same pid, arguments and descriptors). It returns when there is nothing
// to set or the re-exec fails. Opt out by setting either one, e.g.
// GLIBC_TUNABLES=glibc.malloc.hugetlb=0:glibc.malloc.top_pad=131072 (glibc's defaults).
void set_malloc_tunables(char** argv);

}  // namespace amstore

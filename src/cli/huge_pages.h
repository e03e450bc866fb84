// Process start-up: let glibc's malloc back large allocations with transparent huge pages.
#pragma once

#include <string_view>

namespace amstore {

// Whether the GLIBC_TUNABLES of this process already sets `name` (e.g. "glibc.malloc.hugetlb"):
// a user's choice, which start-up settings leave alone.
bool glibc_tunable_given(std::string_view name);

// Loading or saving a large document allocates and frees hundreds of megabytes. glibc
// returns big blocks to the kernel on free, so every run faults them in again page by page
// (4 KiB each): about a fifth of a 1 MB document's save went to page faults. With the
// `glibc.malloc.hugetlb=1` tunable, malloc asks for transparent huge pages (2 MiB) instead.
// Tunables are read only when a process starts, so when the kernel offers huge pages on
// request ("madvise" mode) and GLIBC_TUNABLES does not already choose, this sets it and
// re-executes the program in place (same pid, arguments and descriptors). It returns when
// there is nothing to do or the re-exec fails. Opt out with GLIBC_TUNABLES=glibc.malloc.hugetlb=0.
void use_huge_pages_for_malloc(char** argv);

}  // namespace amstore

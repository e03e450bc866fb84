// FUZZ_CHECK: an invariant of a fuzz target. A violated one aborts (__builtin_trap), which
// libFuzzer reports like a crash, with the input that broke it.
#pragma once

#include <cstdio>

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s: check failed at line %d: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_trap();                                                                 \
    }                                                                                   \
  } while (0)

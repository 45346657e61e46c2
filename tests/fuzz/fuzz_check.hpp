#pragma once
// FUZZ_CHECK(cond): an invariant a fuzz target asserts; aborts (a "crash" to libFuzzer) when
// it does not hold. Unlike assert() it stays on in every build type.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

// The one way bitsmith dispatches by CPU: GCC function multiversioning. A hot loop is plain C++
// (or GCC vector extensions) marked BITSMITH_CPU_CLONES(targets...): the compiler builds it once
// per listed x86 target plus a baseline ("default"), and the loader picks one at start-up
// through an ifunc, so one binary runs everywhere and vectorizes as wide as the CPU allows
// (no -march flags, no run-time flags to check at each call).
//
// A kernel written by hand for one target (gguf_legacy.cc's AVX2 rows) is the same mechanism
// spelled per version: BITSMITH_CPU_VERSION("avx2") on the hand-written body and
// BITSMITH_CPU_VERSION("default") on the portable one, same name and signature; GCC dispatches
// between them as between clones. Such code sits inside `#if BITSMITH_CPU_DISPATCH`.
//
// Dispatch is off, and every marked function is compiled once for the baseline, with
// -DBITSMITH_PORTABLE=ON (CMake), off x86-64, under clang (the fuzz build) and under
// AddressSanitizer (whose instrumentation and ifunc resolvers do not mix). The results do not
// change: every dispatched kernel gives the bytes of its scalar reference, which the tests check.
// This is the only mechanism in the project (formats, quant, algo, infer): no
// __builtin_cpu_supports, no Highway; intrinsics only inside a BITSMITH_CPU_VERSION body.
#pragma once

#if !defined(BITSMITH_PORTABLE) && defined(__x86_64__) && defined(__GNUC__) && \
    !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define BITSMITH_CPU_DISPATCH 1
#define BITSMITH_CPU_CLONES(...) __attribute__((target_clones(__VA_ARGS__, "default")))
#define BITSMITH_CPU_VERSION(isa) __attribute__((target(isa)))
#else
#define BITSMITH_CPU_DISPATCH 0
#define BITSMITH_CPU_CLONES(...)
#define BITSMITH_CPU_VERSION(isa)  // only the "default" version exists then
#endif

// Internal invariants (bugs, not bad input): report where and abort. Inputs never reach these;
// whatever an input can break returns a Status instead (DESIGN.md convention 9).
#pragma once

namespace bitsmith::detail {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* msg);
}  // namespace bitsmith::detail

#define BITSMITH_ASSERT(cond)                                                   \
  do {                                                                          \
    if (!(cond)) ::bitsmith::detail::assert_fail(#cond, __FILE__, __LINE__, ""); \
  } while (0)
#define BITSMITH_ASSERT_MSG(cond, msg)                                           \
  do {                                                                           \
    if (!(cond)) ::bitsmith::detail::assert_fail(#cond, __FILE__, __LINE__, msg); \
  } while (0)

#include "bitsmith/core/assert.h"

#include <cstdio>
#include <cstdlib>

namespace bitsmith::detail {

void assert_fail(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "bitsmith internal error: %s:%d: assertion '%s' failed %s\n", file, line,
               expr, msg);
  std::abort();
}

}  // namespace bitsmith::detail

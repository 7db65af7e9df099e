#include "bitsmith/core/text_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bitsmith {

Result<std::string> read_file_bounded(const std::string& path, const ReadLimits& limits) {
  const std::string_view what = limits.what;
  // O_NONBLOCK so that a FIFO nobody writes to cannot hang the open (it then reads as empty);
  // blocking reads again afterwards, so a pipe with a writer is read to its end.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return io_error("{}: cannot open the {}: {}", path, what, std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return io_error("{}: cannot stat the {}: {}", path, what, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return invalid_argument("{}: is a directory, not a {}", path, what);
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > limits.max_bytes) {
    return invalid_argument("{}: {} of {} bytes exceeds the {} byte limit", path, what, st.st_size,
                            limits.max_bytes);
  }
  std::string text;
  if (S_ISREG(st.st_mode)) text.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("{}: read failed at offset {}: {}", path, text.size(), std::strerror(errno));
    if (n == 0) break;
    if (limits.reject_nul) {
      if (const void* nul = std::memchr(buf, '\0', static_cast<size_t>(n))) {
        return invalid_argument("{}: NUL byte at offset {}: a binary file, not a {}", path,
                                text.size() + static_cast<size_t>(static_cast<const char*>(nul) - buf), what);
      }
    }
    if (text.size() + static_cast<uint64_t>(n) > limits.max_bytes) {
      return invalid_argument("{}: {} longer than the {} byte limit", path, what, limits.max_bytes);
    }
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace bitsmith

// AtomicFile, and the clean-up of temporaries that killed runs left behind.
#include "bitsmith/core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

namespace bitsmith {

namespace {
constexpr size_t kBufferBytes = 1 << 20;
namespace fs = std::filesystem;
}  // namespace

void remove_stale_temporaries(const std::string& dir, const std::string& name) {
  // GCC 12 mis-warns (-Wrestrict) on "." + string; fmt builds the prefix instead.
  const std::string prefix = fmt::format(".{}.tmp-", name);
  std::error_code ec;
  for (fs::directory_iterator it(dir.empty() ? "." : dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string entry = it->path().filename().string();
    if (!entry.starts_with(prefix)) continue;
    // ".<name>.tmp-<pid>-<random>": anything else is not ours to judge.
    const char* first = entry.data() + prefix.size();
    const char* last = entry.data() + entry.size();
    long pid = 0;
    auto [ptr, err] = std::from_chars(first, last, pid);
    if (err != std::errc() || ptr == first || ptr == last || *ptr != '-' || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to see
    std::error_code rm;
    fs::remove_all(it->path(), rm);
  }
}

Result<AtomicFile> AtomicFile::create(const std::string& target) {
  fs::path p(target);
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  remove_stale_temporaries(dir.string(), p.filename().string());
  std::string templ = (dir / fmt::format(".{}.tmp-{}-XXXXXX", p.filename().string(), ::getpid())).string();
  int fd = ::mkstemp(templ.data());
  if (fd < 0) return io_error("{}: cannot create a temporary file in {}: {}", target, dir.string(), std::strerror(errno));
  ::fchmod(fd, 0644);  // mkstemp makes 0600; model files are meant to be shared
  AtomicFile f;
  f.target_ = target;
  f.temp_ = templ;
  f.fd_ = fd;
  f.buffer_.reserve(kBufferBytes);
  return f;
}

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : target_(std::move(o.target_)), temp_(std::move(o.temp_)), fd_(o.fd_), written_(o.written_),
      buffer_(std::move(o.buffer_)) {
  o.fd_ = -1;
  o.temp_.clear();
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

namespace {
Status write_all(int fd, const char* p, uint64_t n, const std::string& target, uint64_t at) {
  uint64_t off = 0;
  while (off < n) {
    ssize_t w = ::write(fd, p + off, static_cast<size_t>(std::min<uint64_t>(n - off, 1u << 30)));
    if (w < 0) {
      if (errno == EINTR) continue;
      return io_error("{}: write failed at byte {}: {}", target, at + off, std::strerror(errno));
    }
    off += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}
}  // namespace

Status AtomicFile::flush() { return flush_before(0); }

// Writes out the buffer while `pending` bytes, already counted in written_, are not in it yet.
Status AtomicFile::flush_before(uint64_t pending) {
  BITSMITH_RETURN_IF_ERROR(write_all(fd_, buffer_.data(), buffer_.size(), target_, written_ - pending - buffer_.size()));
  buffer_.clear();
  return Status::Ok();
}

Status AtomicFile::write(const void* data, uint64_t size) {
  if (fd_ < 0) return internal_error("{}: write after commit", target_);
  const char* p = static_cast<const char*>(data);
  if (buffer_.size() + size <= kBufferBytes) {
    buffer_.append(p, size);
    written_ += size;
    return Status::Ok();
  }
  written_ += size;
  BITSMITH_RETURN_IF_ERROR(flush_before(size));
  if (size < kBufferBytes) {
    buffer_.append(p, size);
    return Status::Ok();
  }
  // A large tensor goes straight from its buffer to the file: no second copy in memory.
  return write_all(fd_, p, size, target_, written_ - size);
}

Status AtomicFile::pad_to(uint64_t alignment) {
  static const char zeros[256] = {};
  uint64_t pad = (alignment - written_ % alignment) % alignment;
  while (pad > 0) {
    uint64_t n = std::min<uint64_t>(pad, sizeof(zeros));
    BITSMITH_RETURN_IF_ERROR(write(zeros, n));
    pad -= n;
  }
  return Status::Ok();
}

Status AtomicFile::commit() {
  if (fd_ < 0) return internal_error("{}: committed twice", target_);
  BITSMITH_RETURN_IF_ERROR(flush());
  if (::fsync(fd_) != 0) return io_error("{}: fsync failed: {}", target_, std::strerror(errno));
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    return io_error("{}: cannot rename {} over it: {}", target_, temp_, std::strerror(errno));
  }
  temp_.clear();
  // The rename is durable only once the directory entry is on disk.
  sync_directory(fs::path(target_).parent_path().string());
  return Status::Ok();
}

void sync_directory(const std::string& dir) {
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

Status write_file_atomic(const std::string& target, std::string_view contents) {
  BITSMITH_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(target));
  BITSMITH_RETURN_IF_ERROR(f.write(contents));
  return f.commit();
}

}  // namespace bitsmith

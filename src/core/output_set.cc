// OutputSet (several files committed as one) and InputFiles (no output replaces an input).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "bitsmith/core/atomic_file.h"

namespace bitsmith {

namespace {
namespace fs = std::filesystem;

// The name staging entries of an existing directory carry (remove_stale_temporaries' pattern).
constexpr const char* kStagingName = "bitsmith-output";

Result<std::string> make_temp_dir(const fs::path& parent, const std::string& name) {
  std::string templ = (parent / fmt::format(".{}.tmp-{}-XXXXXX", name, ::getpid())).string();
  if (::mkdtemp(templ.data()) == nullptr) {
    return io_error("{}: cannot create a staging directory: {}", parent.string(), std::strerror(errno));
  }
  return templ;
}
}  // namespace

Result<OutputSet> OutputSet::create(const std::string& dir) {
  fs::path d = fs::path(dir).lexically_normal();
  if (!d.has_filename() && d.has_parent_path()) d = d.parent_path();  // "out/" -> "out"
  if (d.empty()) d = ".";
  std::error_code ec;
  OutputSet s;
  s.dir_ = d.string();
  const fs::file_status st = fs::status(d, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) return invalid_argument("{}: exists and is not a directory", s.dir_);
    s.dir_existed_ = true;
    remove_stale_temporaries(s.dir_, kStagingName);
    BITSMITH_ASSIGN_OR_RETURN(s.staging_, make_temp_dir(d, kStagingName));
  } else {
    // A new directory is staged beside itself and appears with one rename, files and all.
    fs::path parent = d.parent_path().empty() ? fs::path(".") : d.parent_path();
    if (!fs::is_directory(parent, ec)) return io_error("{}: parent directory {} does not exist", s.dir_, parent.string());
    remove_stale_temporaries(parent.string(), d.filename().string());
    BITSMITH_ASSIGN_OR_RETURN(s.staging_, make_temp_dir(parent, d.filename().string()));
    ::chmod(s.staging_.c_str(), 0755);  // mkdtemp makes 0700; model folders are meant to be shared
  }
  return s;
}

OutputSet::OutputSet(OutputSet&& o) noexcept
    : dir_(std::move(o.dir_)), staging_(std::move(o.staging_)), dir_existed_(o.dir_existed_),
      names_(std::move(o.names_)) {
  o.staging_.clear();
}

OutputSet::~OutputSet() { discard(); }

void OutputSet::discard() {
  if (staging_.empty()) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
  staging_.clear();
}

std::string OutputSet::stage(const std::string& name) {
  names_.push_back(name);
  return (fs::path(staging_) / name).string();
}

std::string OutputSet::final_path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

Status OutputSet::commit() {
  if (staging_.empty()) return internal_error("{}: output committed twice", dir_);
  for (const auto& n : names_) {
    std::error_code ec;
    if (!fs::is_regular_file(fs::path(staging_) / n, ec)) return internal_error("{}: '{}' was never written", dir_, n);
  }
  if (!dir_existed_) {
    if (::rename(staging_.c_str(), dir_.c_str()) != 0) {
      const int err = errno;
      discard();
      return io_error("{}: cannot move the finished output into place: {}", dir_, std::strerror(err));
    }
    staging_.clear();
    sync_directory(fs::path(dir_).parent_path().string());
    return Status::Ok();
  }
  Status st = commit_into_existing();
  discard();
  return st;
}

// Each file replaces its namesake by rename; a file being replaced is first hard-linked into the
// staging directory so that a failed rename can put every earlier one back.
Status OutputSet::commit_into_existing() {
  const fs::path staging(staging_);
  std::vector<std::pair<std::string, bool>> moved;  // name, had a previous version
  auto rollback = [&] {
    for (auto it = moved.rbegin(); it != moved.rend(); ++it) {
      const std::string target = final_path(it->first);
      if (it->second) {
        ::rename((staging / (".previous." + it->first)).c_str(), target.c_str());
      } else {
        ::unlink(target.c_str());
      }
    }
  };
  for (const auto& n : names_) {
    const std::string target = final_path(n);
    const std::string backup = (staging / (".previous." + n)).string();
    bool had = false;
    struct stat st {};
    if (::lstat(target.c_str(), &st) == 0) {
      if (::link(target.c_str(), backup.c_str()) != 0) {
        const int err = errno;
        rollback();
        return io_error("{}: cannot keep the previous {} while replacing it: {}", dir_, n, std::strerror(err));
      }
      had = true;
    }
    if (::rename((staging / n).c_str(), target.c_str()) != 0) {
      const int err = errno;
      if (had) ::unlink(backup.c_str());
      rollback();
      return io_error("{}: cannot move {} into place: {}", dir_, n, std::strerror(err));
    }
    moved.emplace_back(n, had);
  }
  sync_directory(dir_);
  return Status::Ok();
}

void InputFiles::add(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return;
  paths_.push_back(path);
  ids_.emplace_back(st.st_dev, st.st_ino);
}

Status InputFiles::check_output(const std::string& output) const {
  struct stat st {};
  if (::stat(output.c_str(), &st) != 0) return Status::Ok();  // nothing there to replace
  for (size_t i = 0; i < ids_.size(); ++i) {
    if (ids_[i].first == st.st_dev && ids_[i].second == st.st_ino) {
      return invalid_argument("refusing to write {}: it is the input {} (the same file); choose another output path",
                              output, paths_[i]);
    }
  }
  return Status::Ok();
}

}  // namespace bitsmith

// Outputs that appear whole or not at all, and never replace a file the run reads.
//
// AtomicFile: bytes go to a temporary file in the target's directory; commit() fsyncs it, renames
// it over the target and fsyncs the directory. Until commit() the target is untouched; an error,
// an exception or the destructor removes the temporary. A killed process leaves only a
// ".<name>.tmp-<pid>-*" file beside the target, which the next run for that target removes once
// the process named by <pid> is gone.
//
// OutputSet: several files (a safetensors model with config.json and tokenizer files) committed
// as one unit: each is written complete into a staging directory, then the set is moved into
// place; any failure before or during the move leaves the directory as it was.
//
// InputFiles: the files a run reads, by identity (device and inode, so symlinks and hard links
// count), checked against every output before any work starts.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bitsmith/core/status.h"

namespace bitsmith {

class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::string& target);
  AtomicFile(AtomicFile&& o) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  Status write(const void* data, uint64_t size);
  Status write(std::string_view s) { return write(s.data(), s.size()); }
  // Zero bytes up to the next multiple of `alignment` (GGUF's padding).
  Status pad_to(uint64_t alignment);
  uint64_t size() const { return written_; }
  Status commit();
  const std::string& target() const { return target_; }

 private:
  AtomicFile() = default;
  Status flush();
  Status flush_before(uint64_t pending);

  std::string target_, temp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  std::string buffer_;  // small writes are gathered so a header is not a thousand syscalls
};

// Writes a whole small file (config.json, tokenizer.json, an imatrix) atomically.
Status write_file_atomic(const std::string& target, std::string_view contents);

// Removes "<dir>/.<name>.tmp-<pid>-*" entries (files or staging directories) left by runs that
// were killed: only those whose <pid> is no longer a live process.
void remove_stale_temporaries(const std::string& dir, const std::string& name);

// fsync of a directory: a rename in it is durable only once its entries are on disk.
void sync_directory(const std::string& dir);

class OutputSet {
 public:
  // The files will land in `dir` (created with them when it does not exist yet).
  static Result<OutputSet> create(const std::string& dir);
  OutputSet(OutputSet&& o) noexcept;
  OutputSet& operator=(OutputSet&&) = delete;
  OutputSet(const OutputSet&) = delete;
  ~OutputSet();

  // Where to write the file that will be `dir/name` (a plain file name); files are moved into
  // place in the order they were added, so add the main file last: a reader that finds it finds
  // its companions too.
  std::string stage(const std::string& name);
  // The final path of `name`.
  std::string final_path(const std::string& name) const;
  const std::string& dir() const { return dir_; }
  Status commit();

 private:
  OutputSet() = default;
  Status commit_into_existing();
  void discard();

  std::string dir_, staging_;
  bool dir_existed_ = false;
  std::vector<std::string> names_;
};

class InputFiles {
 public:
  // Records a file the run reads; a path that does not exist is ignored (nothing to protect).
  void add(const std::string& path);
  void add(const std::vector<std::string>& paths) {
    for (const auto& p : paths) add(p);
  }
  // kInvalidArgument naming both paths when writing `output` would replace one of the inputs.
  Status check_output(const std::string& output) const;
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<std::string> paths_;
  std::vector<std::pair<dev_t, ino_t>> ids_;
};

}  // namespace bitsmith

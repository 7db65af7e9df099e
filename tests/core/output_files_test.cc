// AtomicFile, OutputSet and InputFiles: outputs appear whole or not at all, killed runs' leftovers
// are cleaned, and no output may be an input.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bitsmith/core/atomic_file.h"

namespace bitsmith {
namespace {

namespace fs = std::filesystem;

class OutputFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / fmt::format("bitsmith-output-test-{}-{}", ::getpid(),
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static void put(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
  static std::string get(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::vector<std::string> entries(const fs::path& dir) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  // A pid that was a process of ours and is gone now.
  static pid_t dead_pid() {
    pid_t p = ::fork();
    if (p == 0) ::_exit(0);
    int status = 0;
    ::waitpid(p, &status, 0);
    return p;
  }

  fs::path root_;
};

TEST_F(OutputFilesTest, AtomicFileRemovesTemporariesOfDeadRunsOnly) {
  const std::string dead = fmt::format(".m.gguf.tmp-{}-AbC123", dead_pid());
  const std::string alive = fmt::format(".m.gguf.tmp-{}-XyZ789", ::getppid());
  const std::string other = ".m.gguf.tmp-Qw1234";  // no pid: an older naming, not ours to judge
  for (const auto& n : {dead, alive, other}) put(root_ / n, "partial");
  fs::create_directory(root_ / fmt::format(".m.gguf.tmp-{}-dir000", dead_pid()));
  ASSERT_TRUE(write_file_atomic((root_ / "m.gguf").string(), "whole").ok());
  EXPECT_EQ(get(root_ / "m.gguf"), "whole");
  std::vector<std::string> want = {alive, other, "m.gguf"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(entries(root_), want);
}

TEST_F(OutputFilesTest, AtomicFileLeavesNothingWithoutCommit) {
  {
    auto f = AtomicFile::create((root_ / "x.bin").string());
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->write("abc").ok());
  }
  EXPECT_TRUE(entries(root_).empty());
}

TEST_F(OutputFilesTest, NewDirectoryAppearsWithAllItsFilesAtOnce) {
  const fs::path out = root_ / "model";
  auto set = OutputSet::create(out.string());
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  ASSERT_TRUE(write_file_atomic(set->stage("config.json"), "{}").ok());
  ASSERT_TRUE(write_file_atomic(set->stage("model.safetensors"), "weights").ok());
  EXPECT_FALSE(fs::exists(out));  // nothing at the target before the commit
  ASSERT_TRUE(set->commit().ok());
  EXPECT_EQ(entries(out), (std::vector<std::string>{"config.json", "model.safetensors"}));
  EXPECT_EQ(get(out / "model.safetensors"), "weights");
  EXPECT_EQ(entries(root_), std::vector<std::string>{"model"});  // no staging left behind
}

TEST_F(OutputFilesTest, AbandonedSetLeavesNoTrace) {
  {
    auto set = OutputSet::create((root_ / "model").string());
    ASSERT_TRUE(set.ok());
    ASSERT_TRUE(write_file_atomic(set->stage("config.json"), "{}").ok());
  }
  EXPECT_TRUE(entries(root_).empty());
  put(root_ / "keep.txt", "mine");
  {
    auto set = OutputSet::create(root_.string());  // an existing directory
    ASSERT_TRUE(set.ok());
    ASSERT_TRUE(write_file_atomic(set->stage("config.json"), "{}").ok());
  }
  EXPECT_EQ(entries(root_), std::vector<std::string>{"keep.txt"});
}

TEST_F(OutputFilesTest, CommitIntoExistingDirectoryReplacesOnlyItsFiles) {
  put(root_ / "config.json", "old config");
  put(root_ / "notes.txt", "mine");
  auto set = OutputSet::create(root_.string());
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE(write_file_atomic(set->stage("config.json"), "new config").ok());
  ASSERT_TRUE(write_file_atomic(set->stage("q.safetensors"), "weights").ok());
  ASSERT_TRUE(set->commit().ok());
  EXPECT_EQ(get(root_ / "config.json"), "new config");
  EXPECT_EQ(get(root_ / "notes.txt"), "mine");
  EXPECT_EQ(entries(root_), (std::vector<std::string>{"config.json", "notes.txt", "q.safetensors"}));
}

TEST_F(OutputFilesTest, FailedCommitPutsEveryEarlierFileBack) {
  put(root_ / "config.json", "old config");
  fs::create_directories(root_ / "q.safetensors" / "inside");  // a file cannot be renamed over it
  auto set = OutputSet::create(root_.string());
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE(write_file_atomic(set->stage("config.json"), "new config").ok());
  ASSERT_TRUE(write_file_atomic(set->stage("tokenizer.json"), "new tokenizer").ok());
  ASSERT_TRUE(write_file_atomic(set->stage("q.safetensors"), "weights").ok());
  Status st = set->commit();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("q.safetensors"), std::string::npos) << st.message();
  EXPECT_EQ(get(root_ / "config.json"), "old config");
  EXPECT_FALSE(fs::exists(root_ / "tokenizer.json"));
  EXPECT_EQ(entries(root_), (std::vector<std::string>{"config.json", "q.safetensors"}));
}

TEST_F(OutputFilesTest, StagingOfAKilledRunIsRemovedByTheNext) {
  fs::create_directories(root_ / fmt::format(".model.tmp-{}-AAAAAA", dead_pid()) / "x");
  fs::create_directories(root_ / "d" / fmt::format(".bitsmith-output.tmp-{}-BBBBBB", dead_pid()));
  ASSERT_TRUE(OutputSet::create((root_ / "model").string()).ok());
  ASSERT_TRUE(OutputSet::create((root_ / "d").string()).ok());
  EXPECT_EQ(entries(root_), std::vector<std::string>{"d"});
  EXPECT_TRUE(entries(root_ / "d").empty());
}

TEST_F(OutputFilesTest, AnOutputThatIsAnInputIsRefused) {
  put(root_ / "in.gguf", "model");
  fs::create_symlink(root_ / "in.gguf", root_ / "link.gguf");
  fs::create_hard_link(root_ / "in.gguf", root_ / "hard.gguf");
  put(root_ / "other.gguf", "other");
  InputFiles in;
  in.add((root_ / "in.gguf").string());
  in.add((root_ / "missing.txt").string());  // nothing there: nothing to protect
  for (const char* n : {"in.gguf", "link.gguf", "hard.gguf"}) {
    Status st = in.check_output((root_ / n).string());
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << n;
    EXPECT_NE(st.message().find("in.gguf"), std::string::npos) << st.message();
  }
  EXPECT_TRUE(in.check_output((root_ / "other.gguf").string()).ok());
  EXPECT_TRUE(in.check_output((root_ / "new.gguf").string()).ok());
  EXPECT_EQ(in.paths().size(), 1u);
}

}  // namespace
}  // namespace bitsmith

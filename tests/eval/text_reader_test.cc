// eval's text reader (--text): bounded, and refuses what is not text instead of reading it
// until memory runs out (/dev/zero) or waiting forever (a FIFO nobody writes).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "bitsmith/eval/text.h"

namespace bitsmith::eval {
namespace {

namespace fs = std::filesystem;

TEST(ReadText, HostileInputs) {
  const fs::path dir = fs::temp_directory_path() / ("bitsmith_text_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream(dir / "ok.txt") << "hello world\n";
    auto t = read_text((dir / "ok.txt").string());
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_EQ(*t, "hello world");
  }
  auto z = read_text("/dev/zero");
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.status().message().find("/dev/zero: NUL byte at offset 0"), std::string::npos) << z.status().message();
  {
    std::ofstream f(dir / "bin.txt", std::ios::binary);
    f << "text then" << '\0' << "binary";
  }
  auto b = read_text((dir / "bin.txt").string());
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("NUL byte at offset 9"), std::string::npos) << b.status().message();
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  auto f = read_text((dir / "fifo").string());  // no writer: read as empty, not waited on
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("empty"), std::string::npos) << f.status().message();
  auto d = read_text(dir.string());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("is a directory"), std::string::npos) << d.status().message();
  // Past the 1 GiB limit: a sparse file, refused by its size before any byte is read.
  {
    std::ofstream(dir / "big.txt") << "x";
    fs::resize_file(dir / "big.txt", kMaxTextBytes + 1);
  }
  auto big = read_text((dir / "big.txt").string());
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("exceeds the 1073741824 byte limit"), std::string::npos) << big.status().message();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bitsmith::eval

// .npy reading: round trip, and hostile headers that must fail before any allocation.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "bitsmith/core/npy.h"

namespace bitsmith {
namespace {

namespace fs = std::filesystem;

std::string npy(std::string_view header_dict, size_t data_bytes, int major = 1) {
  std::string h(header_dict);
  h += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const uint32_t n = static_cast<uint32_t>(h.size());
  out += static_cast<char>(n & 0xFF);
  out += static_cast<char>((n >> 8) & 0xFF);
  if (major >= 2) {
    out += static_cast<char>((n >> 16) & 0xFF);
    out += static_cast<char>(n >> 24);
  }
  out += h;
  out.append(data_bytes, '\0');
  return out;
}

Result<Tensor> parse(const std::string& bytes) {
  return parse_npy({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "x.npy");
}

void expect_error(const std::string& bytes, std::string_view what) {
  auto t = parse(bytes);
  ASSERT_FALSE(t.ok()) << what;
  EXPECT_NE(t.status().message().find(what), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("x.npy"), std::string::npos) << t.status().message();
}

TEST(Npy, RoundTrip) {
  const fs::path p = fs::temp_directory_path() / ("bitsmith_npy_" + std::to_string(::getpid()) + ".npy");
  Tensor t(DType::kF32, Shape{2, 3});
  for (int i = 0; i < 6; ++i) t.mutable_as<float>()[i] = static_cast<float>(i) * 0.5f;
  ASSERT_TRUE(write_npy(p.string(), t.view()).ok());
  auto r = read_npy(p.string());
  fs::remove(p);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->shape(), (Shape{2, 3}));
  EXPECT_EQ(r->as<float>()[5], 2.5f);
}

TEST(Npy, HostileHeadersFailBeforeAllocating) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  EXPECT_TRUE(parse(npy(dict, 16)).ok());
  EXPECT_TRUE(parse(npy(dict, 16, 2)).ok());
  // A terabyte array promised by a 100-byte file: refused by size, not by a failed allocation.
  expect_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", 16),
               "needs 4000000000000 bytes at offset");
  expect_error(npy(dict, 15), "data truncated");
  expect_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0), "shape");
  expect_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1), }", 4), "dims");
  expect_error(npy(dict, 16).substr(0, 20), "truncated .npy header");
  expect_error(npy(dict, 16).substr(0, 11), "truncated .npy header");
  expect_error(npy(dict, 16, 2).substr(0, 11), "truncated .npy header length");
  expect_error("\x93NUMPZ", "bad magic");
  expect_error(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 16), "dtype");
  expect_error(npy(dict, 16, 7), "version 7");
}

// Found by the npy fuzzer (10M-execution run): an empty shape whose leading dims multiply past
// int64 before the zero. It is a valid empty array; counting its elements must not overflow.
TEST(Npy, EmptyShapeWithHugeLeadingDims) {
  auto t = parse(npy("{'descr': '<f2', 'fortran_order': False, 'shape': (72134469006348, 200623, 0), }", 0));
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->shape().numel(), 0);
}

TEST(Npy, NonRegularFileIsRefused) {
  const fs::path fifo = fs::temp_directory_path() / ("bitsmith_npy_fifo_" + std::to_string(::getpid()));
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = read_npy(fifo.string());  // used to block in fopen, waiting for a writer
  fs::remove(fifo);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("FIFO"), std::string::npos) << r.status().message();
  auto z = read_npy("/dev/zero");
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.status().message().find("character device"), std::string::npos) << z.status().message();
}

}  // namespace
}  // namespace bitsmith

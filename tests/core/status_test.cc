#include "bitsmith/core/status.h"

#include <gtest/gtest.h>

#include "bitsmith/core/checked.h"
#include "bitsmith/core/tensor.h"
#include "bitsmith/core/thread_pool.h"

namespace bitsmith {
namespace {

Result<int> parse_positive(int x) {
  if (x <= 0) return invalid_argument("value {} is not positive", x);
  return x;
}

Status use_parse(int x, int* out) {
  BITSMITH_ASSIGN_OR_RETURN(*out, parse_positive(x));
  return Status::Ok();
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = corrupt_data("tensor '{}' offset {} past end", "w", 12);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kCorruptData);
  EXPECT_EQ(s.to_string(), "corrupt data: tensor 'w' offset 12 past end");
  EXPECT_EQ(s.with_context("a.gguf").message(), "a.gguf: tensor 'w' offset 12 past end");
}

TEST(Status, AssignOrReturnPropagates) {
  int v = 0;
  EXPECT_TRUE(use_parse(3, &v).ok());
  EXPECT_EQ(v, 3);
  Status s = use_parse(-1, &v);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(v, 3);
}

TEST(Checked, DetectsOverflow) {
  EXPECT_FALSE(checked_mul(uint64_t{1} << 40, uint64_t{1} << 30).has_value());
  EXPECT_EQ(*checked_mul(1000, 1000), 1000000u);
  EXPECT_FALSE(checked_add(UINT64_MAX, 1).has_value());
  const int64_t dims[] = {int64_t{1} << 32, int64_t{1} << 32};
  EXPECT_FALSE(checked_product(dims).has_value());
  const int64_t neg[] = {4, -1};
  EXPECT_FALSE(checked_product(neg).has_value());
}

TEST(Shape, RowsColsAndErrors) {
  Shape s{3, 4, 5};
  EXPECT_EQ(s.numel(), 60);
  EXPECT_EQ(s.cols(), 5);
  EXPECT_EQ(s.rows(), 12);
  EXPECT_EQ(s.to_string(), "[3, 4, 5]");
  const int64_t huge[] = {int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_FALSE(Shape::from(huge).ok());
  EXPECT_EQ(dtype_size(*dtype_from_name("BF16")), 2u);
  EXPECT_FALSE(dtype_from_name("F7").ok());
}

TEST(ThreadPool, CoversRangeExactlyOnce) {
  ThreadPool pool(4);
  std::vector<int> hits(100003, 0);
  pool.parallel_for(static_cast<int64_t>(hits.size()), 1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
  });
  for (int h : hits) ASSERT_EQ(h, 1);
  // Nested calls run serially and still cover their range.
  std::vector<int> nested(64, 0);
  pool.parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      pool.parallel_for(8, 1, [&](int64_t b2, int64_t e2) {
        for (int64_t j = b2; j < e2; ++j) nested[static_cast<size_t>(i * 8 + j)]++;
      });
    }
  });
  for (int h : nested) ASSERT_EQ(h, 1);
}

}  // namespace
}  // namespace bitsmith

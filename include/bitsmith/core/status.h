// Status and Result<T>: how everything an input can break is reported (DESIGN.md convention 9).
// The library never calls exit() and never lets an exception escape; internal invariants use
// BITSMITH_ASSERT (core/assert.h) instead.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace bitsmith {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller asked for something meaningless (bad shape, unknown scheme)
  kNotFound,         // a named file, tensor or key does not exist
  kIoError,          // the operating system refused (open, read, write, rename)
  kCorruptData,      // a file's bytes contradict its own format
  kUnsupported,      // well-formed, but not something bitsmith handles
  kOutOfRange,       // a value outside what a format or scheme can hold (NaN, Inf, overflow)
  kInternal,         // a bug: an invariant that should have held did not
};

std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt data: model.gguf: tensor 'x' offset 123 past end of file"
  std::string to_string() const;

  // Adds context in front of the message: status.with_context("file.gguf").
  Status with_context(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename... Args>
Status make_status(StatusCode code, fmt::format_string<Args...> f, Args&&... args) {
  return Status(code, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status invalid_argument(fmt::format_string<Args...> f, Args&&... args) {
  return make_status(StatusCode::kInvalidArgument, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status not_found(fmt::format_string<Args...> f, Args&&... args) {
  return make_status(StatusCode::kNotFound, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status io_error(fmt::format_string<Args...> f, Args&&... args) {
  return make_status(StatusCode::kIoError, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status corrupt_data(fmt::format_string<Args...> f, Args&&... args) {
  return make_status(StatusCode::kCorruptData, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status unsupported(fmt::format_string<Args...> f, Args&&... args) {
  return make_status(StatusCode::kUnsupported, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status out_of_range(fmt::format_string<Args...> f, Args&&... args) {
  return make_status(StatusCode::kOutOfRange, f, std::forward<Args>(args)...);
}
template <typename... Args>
Status internal_error(fmt::format_string<Args...> f, Args&&... args) {
  return make_status(StatusCode::kInternal, f, std::forward<Args>(args)...);
}

// Result<T> holds either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {      // NOLINT(google-explicit-constructor)
    if (std::get<Status>(data_).ok()) {
      data_ = Status(StatusCode::kInternal, "Result constructed from an ok Status");
    }
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace bitsmith

#define BITSMITH_CONCAT_INNER_(a, b) a##b
#define BITSMITH_CONCAT_(a, b) BITSMITH_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function when `expr` is not ok.
#define BITSMITH_RETURN_IF_ERROR(expr)                      \
  do {                                                      \
    ::bitsmith::Status bitsmith_status_ = (expr);           \
    if (!bitsmith_status_.ok()) return bitsmith_status_;    \
  } while (0)

// BITSMITH_ASSIGN_OR_RETURN(auto x, f()) : declares x from a Result or returns its Status.
#define BITSMITH_ASSIGN_OR_RETURN(lhs, expr) \
  BITSMITH_ASSIGN_OR_RETURN_IMPL_(BITSMITH_CONCAT_(bitsmith_result_, __LINE__), lhs, expr)
#define BITSMITH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()

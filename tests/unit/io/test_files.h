// Helpers for the io tests: a temporary folder per test, a tiny safetensors writer that
// builds headers as plain text (independent of the reader under test), and error capture.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace hanlin::io::testing {

// A fresh folder named after the running test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() / ("hanlin_io_" + std::string(info->test_suite_name()) +
                                                      "_" + info->name() + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string little_endian_u64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// A whole file: 8-byte header length, header text, data bytes.
inline std::string safetensors_bytes(std::string_view header, std::string_view data = {}) {
  return little_endian_u64(header.size()) + std::string(header) + std::string(data);
}

template <class T>
std::string raw_bytes(std::initializer_list<T> values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  std::memcpy(bytes.data(), values.begin(), bytes.size());
  return bytes;
}

struct TestTensor {
  std::string name;
  std::string dtype;
  std::string shape;  // JSON text, e.g. "[2, 3]"
  std::string bytes;
};

// A valid file holding `tensors` back to back. The header is padded with spaces so that the
// data section starts at a multiple of 8 plus `misalign` bytes.
inline std::string build_safetensors(const std::vector<TestTensor>& tensors, size_t misalign = 0) {
  std::string header = "{\"__metadata__\": {\"format\": \"pt\"}";
  std::string data;
  for (const TestTensor& tensor : tensors) {
    const size_t begin = data.size();
    data += tensor.bytes;
    header += ", \"" + tensor.name + "\": {\"dtype\": \"" + tensor.dtype + "\", \"shape\": " + tensor.shape +
              ", \"data_offsets\": [" + std::to_string(begin) + ", " + std::to_string(data.size()) + "]}";
  }
  header += "}";
  while ((8 + header.size()) % 8 != misalign % 8) header += ' ';
  return safetensors_bytes(header, data);
}

// The Error `action` throws; records a test failure when it throws nothing.
inline Error capture_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error;
  }
  ADD_FAILURE() << "expected a hanlin::Error, but nothing was thrown";
  return Error(ErrorKind::kInternal, "<no error>");
}

}  // namespace hanlin::io::testing

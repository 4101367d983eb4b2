// MappedFile: a read-only memory map of a whole file, unmapped when the last owner goes.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace hanlin {

class MappedFile {
 public:
  // Throws Error (kNotFound / kInvalidFile) naming the path when it cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }

 private:
  MappedFile(std::string path, const std::byte* data, size_t size) : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const std::byte* data_;
  size_t size_;
};

// Reads a whole (small) file into a string; throws Error naming the path on failure.
std::string read_text_file(const std::string& path);

}  // namespace hanlin

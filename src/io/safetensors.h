// Safetensors reader: memory-maps checkpoint files and validates every header before any
// byte of tensor data is trusted. Handles one file or a sharded model
// (model.safetensors.index.json).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace hanlin::io {

// One tensor's header entry; offsets are relative to the start of the data section.
struct TensorEntry {
  std::string name;
  std::string dtype_name;  // as written: "BF16", "F32", "I64", ...
  Shape shape;
  size_t begin = 0;
  size_t end = 0;
};

// Validates the header at the start of `file` (the whole file's bytes): header length
// within the file and at most 100 MB, a JSON object, unique names, known dtypes,
// shape × dtype size = byte length, offsets in range and non-overlapping. Returns the
// entries sorted by name ("__metadata__" skipped). Throws Error(kInvalidFile) with a
// message that starts with `path`. Never reads outside `file`.
std::vector<TensorEntry> parse_safetensors_header(std::span<const std::byte> file, const std::string& path,
                                                  size_t* data_offset = nullptr);

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return map_->path(); }
  const std::vector<TensorEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const TensorEntry* find(std::string_view name) const;
  // A CPU tensor viewing the mapped bytes (F32, BF16, F16, I32); kUnsupported otherwise.
  Tensor tensor(const TensorEntry& entry) const;

 private:
  std::shared_ptr<const MappedFile> map_;
  std::vector<TensorEntry> entries_;
  size_t data_offset_ = 0;
};

// All weights of a model folder: model.safetensors, or the shards named by
// model.safetensors.index.json (every shard validated, every indexed name present).
class WeightStore {
 public:
  static WeightStore open_dir(const std::string& model_dir);

  bool contains(std::string_view name) const;
  // Throws Error(kInvalidFile) naming the folder and the tensor when it is missing.
  Tensor get(std::string_view name) const;
  std::vector<std::string> names() const;

 private:
  void add_file(SafetensorsFile file);

  std::string model_dir_;
  std::vector<SafetensorsFile> files_;
  // name → (index into files_, index into that file's entries()); indices, not pointers, so a
  // copied WeightStore stays valid on its own.
  std::map<std::string, std::pair<size_t, size_t>, std::less<>> index_;
};

}  // namespace hanlin::io

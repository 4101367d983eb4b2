// Safetensors header validation and zero-copy tensor views over the memory-mapped file.
// Layout: 8-byte little-endian header length N, N bytes of JSON, then the data section that
// every tensor's data_offsets index into.
#include "io/safetensors.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>

#include "core/error.h"
#include "io/json_fields.h"

namespace hanlin::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;
constexpr size_t kHeaderLengthBytes = 8;
// A valid header nests three deep (root → tensor → shape); the slack is for __metadata__.
constexpr int kMaxHeaderDepth = 8;
constexpr std::string_view kMetadataKey = "__metadata__";

struct SafetensorsDType {
  std::string_view name;
  size_t size;
};

// Every dtype the safetensors format defines with a whole-byte element size.
constexpr std::array<SafetensorsDType, 15> kSafetensorsDTypes = {{
    {"BOOL", 1},
    {"U8", 1},
    {"I8", 1},
    {"F8_E4M3", 1},
    {"F8_E5M2", 1},
    {"I16", 2},
    {"U16", 2},
    {"F16", 2},
    {"BF16", 2},
    {"I32", 4},
    {"U32", 4},
    {"F32", 4},
    {"F64", 8},
    {"I64", 8},
    {"U64", 8},
}};

std::optional<size_t> safetensors_dtype_size(std::string_view name) {
  for (const SafetensorsDType& dtype : kSafetensorsDTypes) {
    if (dtype.name == name) return dtype.size;
  }
  return std::nullopt;
}

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw Error(ErrorKind::kInvalidFile, path + ": " + problem);
}

std::string tensor_label(const std::string& name) {
  return "tensor " + quote_text(name);
}

uint64_t read_header_length(std::span<const std::byte> file, const std::string& path) {
  if (file.size() < kHeaderLengthBytes) {
    fail(path, "file is " + std::to_string(file.size()) +
                   " bytes, too short to hold the 8-byte header length of a safetensors file");
  }
  uint64_t length = 0;
  for (size_t i = 0; i < kHeaderLengthBytes; ++i) {
    length |= static_cast<uint64_t>(file[i]) << (8 * i);
  }
  if (length > kMaxHeaderBytes) {
    fail(path,
         "header length " + std::to_string(length) + " exceeds the 100 MB limit (not a safetensors file?)");
  }
  if (length > file.size() - kHeaderLengthBytes) {
    fail(path, "header length " + std::to_string(length) + " runs past the end of the file (" +
                   std::to_string(file.size()) + " bytes)");
  }
  return length;
}

void check_metadata(const Json& metadata, const std::string& path) {
  if (!metadata.is_object()) {
    fail(path, "'__metadata__' must be an object of strings, got " + describe_json(metadata));
  }
  for (const auto& [key, value] : metadata.items()) {
    if (!value.is_string()) {
      fail(path, "'__metadata__' must map strings to strings, but " + quote_text(key) + " holds " +
                     describe_json(value));
    }
  }
}

const Json& require_field(const Json& entry, std::string_view key, const std::string& name,
                          const std::string& path) {
  const auto it = entry.find(key);
  if (it == entry.end()) fail(path, tensor_label(name) + " has no '" + std::string(key) + "'");
  return *it;
}

// A non-negative JSON integer, or nullopt.
std::optional<uint64_t> as_count(const Json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  return std::nullopt;
}

Shape parse_shape(const Json& shape_json, const std::string& name, const std::string& path) {
  if (!shape_json.is_array()) {
    fail(path, tensor_label(name) + ": 'shape' must be an array of non-negative integers, got " +
                   describe_json(shape_json));
  }
  Shape shape;
  for (const Json& extent_json : shape_json) {
    const std::optional<uint64_t> extent = as_count(extent_json);
    if (!extent || *extent > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(path, tensor_label(name) + ": 'shape' must hold non-negative integers, but dimension " +
                     std::to_string(shape.size()) + " is " + describe_json(extent_json));
    }
    shape.push_back(static_cast<int64_t>(*extent));
  }
  return shape;
}

// Bytes the shape needs; fails when any partial product of non-zero extents overflows, so
// later code multiplying a subset of the extents cannot overflow either.
uint64_t shape_byte_length(const Shape& shape, size_t element_size, const std::string& name,
                           const std::string& path) {
  uint64_t product = element_size;
  bool has_zero_extent = false;
  for (const int64_t extent : shape) {
    if (extent == 0) {
      has_zero_extent = true;
      continue;
    }
    if (__builtin_mul_overflow(product, static_cast<uint64_t>(extent), &product) ||
        product > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(path, tensor_label(name) + ": shape " + shape_to_string(shape) + " is too large to address");
    }
  }
  return has_zero_extent ? 0 : product;
}

std::pair<uint64_t, uint64_t> parse_offsets(const Json& offsets_json, const std::string& name,
                                            const std::string& path) {
  const std::string expected = ": 'data_offsets' must be [begin, end] with non-negative integers, got ";
  if (!offsets_json.is_array() || offsets_json.size() != 2) {
    fail(path, tensor_label(name) + expected + describe_json(offsets_json));
  }
  const std::optional<uint64_t> begin = as_count(offsets_json[0]);
  const std::optional<uint64_t> end = as_count(offsets_json[1]);
  if (!begin || !end) {
    fail(path, tensor_label(name) + expected + "[" + describe_json(offsets_json[0]) + ", " +
                   describe_json(offsets_json[1]) + "]");
  }
  if (*begin > *end) {
    fail(path, tensor_label(name) + ": 'data_offsets' [" + std::to_string(*begin) + ", " +
                   std::to_string(*end) + "] begins after it ends");
  }
  return {*begin, *end};
}

TensorEntry parse_entry(const std::string& name, const Json& entry, uint64_t data_size,
                        const std::string& path) {
  if (!entry.is_object())
    fail(path, tensor_label(name) + " must be a JSON object, got " + describe_json(entry));
  const Json& dtype_json = require_field(entry, "dtype", name, path);
  if (!dtype_json.is_string()) {
    fail(path, tensor_label(name) + ": 'dtype' must be a string, got " + describe_json(dtype_json));
  }
  const std::string dtype_name = dtype_json.get<std::string>();
  const std::optional<size_t> element_size = safetensors_dtype_size(dtype_name);
  if (!element_size) fail(path, tensor_label(name) + " has unknown dtype " + quote_text(dtype_name));

  const Shape shape = parse_shape(require_field(entry, "shape", name, path), name, path);
  const auto [begin, end] = parse_offsets(require_field(entry, "data_offsets", name, path), name, path);
  const uint64_t expected_bytes = shape_byte_length(shape, *element_size, name, path);
  if (end - begin != expected_bytes) {
    fail(path, tensor_label(name) + ": shape " + shape_to_string(shape) + " of " + dtype_name + " needs " +
                   std::to_string(expected_bytes) + " bytes, but data_offsets [" + std::to_string(begin) +
                   ", " + std::to_string(end) + "] span " + std::to_string(end - begin));
  }
  if (end > data_size) {
    fail(path, tensor_label(name) + " ends at byte " + std::to_string(end) + " but the data section has " +
                   std::to_string(data_size) + " (is the file truncated?)");
  }
  return TensorEntry{name, dtype_name, shape, static_cast<size_t>(begin), static_cast<size_t>(end)};
}

void check_no_overlap(const std::vector<TensorEntry>& entries, const std::string& path) {
  std::vector<const TensorEntry*> by_offset;
  for (const TensorEntry& entry : entries) {
    if (entry.end > entry.begin) by_offset.push_back(&entry);  // empty tensors occupy no bytes
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorEntry& previous = *by_offset[i - 1];
    const TensorEntry& current = *by_offset[i];
    if (current.begin < previous.end) {
      fail(path, "tensors " + quote_text(previous.name) + " [" + std::to_string(previous.begin) + ", " +
                     std::to_string(previous.end) + ") and " + quote_text(current.name) + " [" +
                     std::to_string(current.begin) + ", " + std::to_string(current.end) + ") overlap");
    }
  }
}

}  // namespace

std::vector<TensorEntry> parse_safetensors_header(std::span<const std::byte> file, const std::string& path,
                                                  size_t* data_offset) {
  const uint64_t header_length = read_header_length(file, path);
  const std::string_view header_text(reinterpret_cast<const char*>(file.data()) + kHeaderLengthBytes,
                                     static_cast<size_t>(header_length));
  const Json header = parse_json_strict(header_text, path, "header", "tensor", kMaxHeaderDepth);
  require_json_object(header, path, "header");

  const size_t offset = kHeaderLengthBytes + static_cast<size_t>(header_length);
  const uint64_t data_size = file.size() - offset;
  std::vector<TensorEntry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      check_metadata(value, path);
      continue;
    }
    entries.push_back(parse_entry(name, value, data_size, path));
  }
  check_no_overlap(entries, path);
  std::sort(entries.begin(), entries.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
  if (data_offset) *data_offset = offset;
  return entries;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile file;
  file.map_ = MappedFile::open(path);
  file.entries_ = parse_safetensors_header(file.map_->bytes(), path, &file.data_offset_);
  return file;
}

const TensorEntry* SafetensorsFile::find(std::string_view name) const {
  const auto it =
      std::lower_bound(entries_.begin(), entries_.end(), name,
                       [](const TensorEntry& entry, std::string_view key) { return entry.name < key; });
  if (it == entries_.end() || it->name != name) return nullptr;
  return &*it;
}

Tensor SafetensorsFile::tensor(const TensorEntry& entry) const {
  const std::optional<DType> dtype = dtype_from_name(entry.dtype_name);
  if (!dtype) {
    throw Error(ErrorKind::kUnsupported, path() + ": " + tensor_label(entry.name) + " has dtype " +
                                             quote_text(entry.dtype_name) +
                                             ", which hanlin cannot load (it loads F32, BF16, F16 and I32)");
  }
  // Entries come from this file's validated header; these guard against one from elsewhere.
  const size_t num_bytes = entry.end - entry.begin;
  const bool in_file = entry.begin <= entry.end && entry.end <= map_->size() - data_offset_;
  const bool sized = static_cast<uint64_t>(shape_numel(entry.shape)) * dtype_size(*dtype) == num_bytes;
  if (!in_file || !sized) {
    throw Error(ErrorKind::kInternal,
                path() + ": " + tensor_label(entry.name) + " is not an entry of this file");
  }
  const std::byte* data = map_->bytes().data() + data_offset_ + entry.begin;
  if (reinterpret_cast<uintptr_t>(data) % dtype_size(*dtype) == 0) {
    // The mapping is read-only: the tensor must not be written through.
    return Tensor::borrow(const_cast<std::byte*>(data), entry.shape, *dtype, map_);
  }
  // Misaligned data (a header length that is not a multiple of 8) cannot be read in place.
  Tensor copy = Tensor::zeros(entry.shape, *dtype);
  if (num_bytes > 0) std::memcpy(copy.raw(), data, num_bytes);
  return copy;
}

}  // namespace hanlin::io

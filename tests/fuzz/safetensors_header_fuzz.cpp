// libFuzzer target: arbitrary bytes as a safetensors file. The parser must either throw
// hanlin::Error or return entries that really lie inside the file; anything else (another
// exception, a sanitizer report, a broken invariant) crashes the fuzzer on purpose.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "io/safetensors.h"

namespace {

// What parse_safetensors_header promises about the entries it returns.
void check_entries(const std::vector<hanlin::io::TensorEntry>& entries, size_t file_size,
                   size_t data_offset) {
  if (data_offset > file_size) __builtin_trap();
  for (size_t i = 0; i < entries.size(); ++i) {
    const hanlin::io::TensorEntry& entry = entries[i];
    if (entry.begin > entry.end || entry.end > file_size - data_offset) __builtin_trap();
    if (i > 0 && !(entries[i - 1].name < entry.name)) __builtin_trap();  // sorted, unique
    if (std::any_of(entry.shape.begin(), entry.shape.end(), [](int64_t extent) { return extent < 0; })) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  try {
    size_t data_offset = 0;
    const auto entries = hanlin::io::parse_safetensors_header(file, "fuzz.safetensors", &data_offset);
    check_entries(entries, size, data_offset);
  } catch (const hanlin::Error&) {
    // Rejecting bad input with hanlin::Error is the expected outcome.
  }
  return 0;
}

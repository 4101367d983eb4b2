// Element types of tensors and the conversions between the 16-bit floats and f32.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hanlin {

enum class DType : uint8_t { kF32, kBF16, kF16, kI32 };

// Bytes per element.
constexpr size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kBF16: return 2;
    case DType::kF16: return 2;
    case DType::kI32: return 4;
  }
  return 0;
}

// The safetensors spelling: "F32", "BF16", "F16", "I32".
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);

// Storage types for the 16-bit floats; arithmetic is always done in f32.
struct bf16 {
  uint16_t bits;
};
struct f16 {
  uint16_t bits;
};

inline float to_f32(bf16 value) { return std::bit_cast<float>(uint32_t{value.bits} << 16); }

// Round to nearest even, as torch does; NaN stays NaN.
inline bf16 to_bf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<uint16_t>((bits >> 16) | 0x40)};
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return bf16{static_cast<uint16_t>(bits >> 16)};
}

float to_f32(f16 value);
f16 to_f16(float value);

inline float to_f32(float value) { return value; }

}  // namespace hanlin

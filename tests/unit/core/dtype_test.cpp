// dtype conversions against IEEE 754 bit patterns and exhaustive round trips.
#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace hanlin {
namespace {

// Decodes an IEEE half from its fields, independently of the code under test.
double half_value(uint16_t bits) {
  const int sign = (bits >> 15) ? -1 : 1;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa ? std::nan("") : sign * std::numeric_limits<double>::infinity();
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

TEST(DType, HalfKnownBitPatterns) {
  EXPECT_EQ(to_f16(1.0f).bits, 0x3c00);
  EXPECT_EQ(to_f16(-2.0f).bits, 0xc000);
  EXPECT_EQ(to_f16(65504.0f).bits, 0x7bff);                  // largest finite
  EXPECT_EQ(to_f16(65520.0f).bits, 0x7c00);                  // rounds up to infinity
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -24)).bits, 0x0001);     // smallest subnormal
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -26)).bits, 0x0000);     // below half the smallest: zero
  EXPECT_EQ(to_f16(0.1f).bits, 0x2e66);
  EXPECT_EQ(to_f16(2049.0f).bits, to_f16(2048.0f).bits);     // tie → even mantissa
  EXPECT_EQ(to_f16(2051.0f).bits, to_f16(2052.0f).bits);     // tie → even mantissa
  EXPECT_EQ(to_f16(-0.0f).bits, 0x8000);
  EXPECT_EQ(to_f16(std::numeric_limits<float>::infinity()).bits, 0x7c00);
  EXPECT_TRUE(std::isnan(to_f32(to_f16(std::nanf("")))));
}

TEST(DType, HalfDecodesEveryPatternExactly) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const double expected = half_value(static_cast<uint16_t>(bits));
    const float decoded = to_f32(f16{static_cast<uint16_t>(bits)});
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(decoded)) << bits;
      continue;
    }
    ASSERT_EQ(static_cast<double>(decoded), expected) << "bits " << bits;
    ASSERT_EQ(to_f16(decoded).bits, bits) << "round trip of bits " << bits;
  }
}

TEST(DType, HalfRoundsToNearestOnSubnormalMidpoints) {
  // Between the subnormals 1·2^-24 and 2·2^-24 the midpoint goes to the even one (2).
  EXPECT_EQ(to_f16(std::ldexp(1.5f, -24)).bits, 0x0002);
  EXPECT_EQ(to_f16(std::ldexp(2.5f, -24)).bits, 0x0002);
  EXPECT_EQ(to_f16(std::ldexp(2.75f, -24)).bits, 0x0003);
}

TEST(DType, Bfloat16KnownBitPatterns) {
  EXPECT_EQ(to_bf16(1.0f).bits, 0x3f80);
  EXPECT_EQ(to_bf16(-1.0f).bits, 0xbf80);
  EXPECT_EQ(to_bf16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);      // tie → even
  EXPECT_EQ(to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3f82);  // tie → even
  EXPECT_EQ(to_bf16(1.0f + std::ldexp(1.0f, -7)).bits, 0x3f81);      // exact
  EXPECT_EQ(to_f32(bf16{0x4049}), 3.140625f);
  EXPECT_TRUE(std::isnan(to_f32(to_bf16(std::nanf("")))));
}

TEST(DType, Bfloat16RoundTripsEveryFinitePattern) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float value = to_f32(bf16{static_cast<uint16_t>(bits)});
    if (std::isnan(value)) continue;
    ASSERT_EQ(to_bf16(value).bits, bits);
  }
}

TEST(DType, NamesRoundTrip) {
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kI32}) {
    EXPECT_EQ(dtype_from_name(dtype_name(dtype)), dtype);
  }
  EXPECT_FALSE(dtype_from_name("F8_E4M3").has_value());
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
}

}  // namespace
}  // namespace hanlin

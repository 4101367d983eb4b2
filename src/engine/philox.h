// Philox4x32-10 (Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3", SC 2011): a
// counter-based generator, so a block depends only on (counter, key), never on earlier draws.
#pragma once

#include <array>
#include <cstdint>

namespace hanlin::engine {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

namespace philox_detail {

inline constexpr uint32_t kMultiplier0 = 0xD2511F53u;
inline constexpr uint32_t kMultiplier1 = 0xCD9E8D57u;
inline constexpr uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio
inline constexpr uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1

constexpr PhiloxCounter round(const PhiloxCounter& x, const PhiloxKey& key) {
  const uint64_t product0 = uint64_t{kMultiplier0} * x[0];
  const uint64_t product1 = uint64_t{kMultiplier1} * x[2];
  const auto high = [](uint64_t v) { return static_cast<uint32_t>(v >> 32); };
  const auto low = [](uint64_t v) { return static_cast<uint32_t>(v); };
  return {high(product1) ^ x[1] ^ key[0], low(product1), high(product0) ^ x[3] ^ key[1], low(product0)};
}

}  // namespace philox_detail

// One 128-bit output block: ten rounds, the key bumped by the Weyl constants between rounds.
constexpr PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key) {
  for (int r = 0; r < 10; ++r) {
    if (r > 0) key = {key[0] + philox_detail::kWeyl0, key[1] + philox_detail::kWeyl1};
    counter = philox_detail::round(counter, key);
  }
  return counter;
}

}  // namespace hanlin::engine

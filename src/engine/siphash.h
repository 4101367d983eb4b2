// SipHash-2-4 (Aumasson & Bernstein, 2012): a keyed 64-bit hash that an attacker who does not
// know the key cannot steer into collisions. Internal to the engine; BlockHasher builds on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace hanlin::engine {

namespace siphash_detail {

inline uint64_t rotate_left(uint64_t value, int bits) {
  return (value << bits) | (value >> (64 - bits));
}

struct SipState {
  uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = rotate_left(v1, 13);
    v1 ^= v0;
    v0 = rotate_left(v0, 32);
    v2 += v3;
    v3 = rotate_left(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotate_left(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotate_left(v1, 17);
    v1 ^= v2;
    v2 = rotate_left(v2, 32);
  }

  // c = 2 rounds per message word.
  void absorb(uint64_t word) {
    v3 ^= word;
    round();
    round();
    v0 ^= word;
  }
};

// Little-endian whatever the host's byte order, as the specification reads words.
inline uint64_t load_little_endian(const uint8_t* bytes, size_t count) {
  uint64_t word = 0;
  for (size_t i = 0; i < count; ++i) word |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return word;
}

}  // namespace siphash_detail

// SipHash-2-4 of `message` under the 128-bit key (key_0, key_1), where key_0 holds key bytes
// 0..7 and key_1 bytes 8..15, each read little-endian.
inline uint64_t siphash24(uint64_t key_0, uint64_t key_1, std::span<const uint8_t> message) {
  using siphash_detail::load_little_endian;
  // The initialisation constants spell "somepseudorandomlygeneratedbytes".
  siphash_detail::SipState state{key_0 ^ 0x736f6d6570736575ULL, key_1 ^ 0x646f72616e646f6dULL,
                                 key_0 ^ 0x6c7967656e657261ULL, key_1 ^ 0x7465646279746573ULL};
  const size_t num_full_words = message.size() / 8;
  for (size_t i = 0; i < num_full_words; ++i) state.absorb(load_little_endian(message.data() + 8 * i, 8));
  // The last word carries the leftover bytes and, in its top byte, the message length mod 256.
  const size_t num_tail_bytes = message.size() % 8;
  const uint64_t tail = load_little_endian(message.data() + 8 * num_full_words, num_tail_bytes);
  state.absorb(tail | (static_cast<uint64_t>(message.size() & 0xff) << 56));
  state.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) state.round();  // d = 4 finalisation rounds
  return state.v0 ^ state.v1 ^ state.v2 ^ state.v3;
}

}  // namespace hanlin::engine

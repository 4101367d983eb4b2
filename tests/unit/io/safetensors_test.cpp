// Safetensors: valid files of each loadable dtype read back exact values; every malformed
// header is rejected with an invalid-file error naming the file and the problem.
#include "io/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <optional>

#include "core/error.h"
#include "test_files.h"

namespace hanlin::io {
namespace {

using testing::build_safetensors;
using testing::capture_error;
using ::testing::HasSubstr;
using testing::raw_bytes;
using testing::safetensors_bytes;
using ::testing::StartsWith;
using testing::TempDir;
using testing::write_file;

std::span<const std::byte> as_file(std::string_view bytes) {
  return std::as_bytes(std::span<const char>(bytes.data(), bytes.size()));
}

// Parses `file_bytes` as "bad.safetensors" and checks the error names it and the problem.
void expect_invalid(std::string_view file_bytes, std::initializer_list<std::string_view> fragments) {
  const Error error =
      capture_error([&] { parse_safetensors_header(as_file(file_bytes), "bad.safetensors"); });
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile) << error.what();
  EXPECT_THAT(error.what(), StartsWith("bad.safetensors: "));
  for (const std::string_view fragment : fragments)
    EXPECT_THAT(error.what(), HasSubstr(std::string(fragment)));
  EXPECT_EQ(std::string(error.what()).find('\n'), std::string::npos) << "messages are one line";
}

// One F32 tensor entry with the given shape and offsets, as header text.
std::string f32_header(std::string_view shape, std::string_view offsets) {
  return "{\"w\": {\"dtype\": \"F32\", \"shape\": " + std::string(shape) +
         ", \"data_offsets\": " + std::string(offsets) + "}}";
}

// ---- valid files ----

TEST(SafetensorsHeader, ReturnsEntriesSortedByNameWithOffsets) {
  const std::string header = R"({"zeta": {"dtype": "I8", "shape": [3], "data_offsets": [0, 3]},)"
                             R"( "alpha": {"dtype": "BF16", "shape": [2, 1], "data_offsets": [4, 8]},)"
                             R"( "__metadata__": {"format": "pt"}})";
  const std::string file = safetensors_bytes(header, std::string(8, '\0'));
  size_t data_offset = 0;
  const std::vector<TensorEntry> entries =
      parse_safetensors_header(as_file(file), "ok.safetensors", &data_offset);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "alpha");
  EXPECT_EQ(entries[0].dtype_name, "BF16");
  EXPECT_EQ(entries[0].shape, (Shape{2, 1}));
  EXPECT_EQ(entries[0].begin, 4u);
  EXPECT_EQ(entries[0].end, 8u);
  EXPECT_EQ(entries[1].name, "zeta");
  EXPECT_EQ(entries[1].shape, (Shape{3}));
  EXPECT_EQ(data_offset, 8 + header.size());
}

TEST(SafetensorsHeader, AcceptsEveryFormatDtypeAndScalarsAndEmptyTensors) {
  const std::string header = R"({"a": {"dtype": "BOOL", "shape": [1], "data_offsets": [0, 1]},)"
                             R"( "b": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]},)"
                             R"( "c": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [2, 3]},)"
                             R"( "d": {"dtype": "F8_E5M2", "shape": [1], "data_offsets": [3, 4]},)"
                             R"( "e": {"dtype": "I16", "shape": [1], "data_offsets": [4, 6]},)"
                             R"( "f": {"dtype": "U16", "shape": [1], "data_offsets": [6, 8]},)"
                             R"( "g": {"dtype": "U32", "shape": [], "data_offsets": [8, 12]},)"
                             R"( "h": {"dtype": "F64", "shape": [1], "data_offsets": [16, 24]},)"
                             R"( "i": {"dtype": "I64", "shape": [1], "data_offsets": [24, 32]},)"
                             R"( "j": {"dtype": "U64", "shape": [0, 5], "data_offsets": [32, 32]}})";
  const std::string file = safetensors_bytes(header, std::string(32, '\0'));
  EXPECT_EQ(parse_safetensors_header(as_file(file), "ok.safetensors").size(), 10u);
}

TEST(SafetensorsHeader, AdjacentRangesAreNotOverlapping) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                             R"( "b": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}})";
  EXPECT_EQ(parse_safetensors_header(as_file(safetensors_bytes(header, std::string(32, '\0'))), "ok").size(),
            2u);
}

TEST(SafetensorsHeader, HeaderOfExactly100MBIsAllowed) {
  std::string header = "{}";
  header.resize(100'000'000, ' ');
  EXPECT_TRUE(parse_safetensors_header(as_file(safetensors_bytes(header)), "big.safetensors").empty());
}

// ---- malformed headers ----

TEST(SafetensorsHeader, RejectsFileTooShortForTheLength) {
  expect_invalid(std::string(5, '\0'), {"5 bytes", "too short"});
}

TEST(SafetensorsHeader, RejectsHeaderLengthPastTheFile) {
  expect_invalid(testing::little_endian_u64(1000) + "{}",
                 {"header length 1000", "past the end of the file (10 bytes)"});
}

TEST(SafetensorsHeader, RejectsHeaderLengthOver100MB) {
  // A sparse file really that large, so only the limit can be what is wrong.
  TempDir dir;
  const std::string path = dir.file("huge.safetensors");
  write_file(path, testing::little_endian_u64(100'000'001) + "{}");
  std::filesystem::resize_file(path, 8 + 100'000'001 + 16);
  const Error error = capture_error([&] { SafetensorsFile::open(path); });
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  EXPECT_THAT(error.what(), StartsWith(path + ": "));
  EXPECT_THAT(error.what(), HasSubstr("header length 100000001 exceeds the 100 MB limit"));
}

TEST(SafetensorsHeader, RejectsNonJsonHeader) {
  expect_invalid(safetensors_bytes("{\"w\": nope}"), {"header is not valid JSON"});
  expect_invalid(safetensors_bytes(""), {"header is not valid JSON"});
  expect_invalid(safetensors_bytes("{\"w\": {}} trailing"), {"header is not valid JSON"});
  expect_invalid(safetensors_bytes("{\"\xff\xfe\": 1}"), {"header is not valid JSON"});
}

TEST(SafetensorsHeader, ParserMessagesStayAsciiAndOneLine) {
  const Error error =
      capture_error([] { parse_safetensors_header(as_file(safetensors_bytes("{\"a\n\xc3\": 1}")), "bad"); });
  for (const char c : std::string(error.what())) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << static_cast<int>(static_cast<unsigned char>(c));
  }
}

TEST(SafetensorsHeader, RejectsNonObjectHeader) {
  expect_invalid(safetensors_bytes("[1, 2]"), {"header must be a JSON object, got an array"});
  expect_invalid(safetensors_bytes("42"), {"header must be a JSON object, got 42"});
}

TEST(SafetensorsHeader, RejectsDuplicateTensorNames) {
  const std::string header = R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                             R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})";
  expect_invalid(safetensors_bytes(header, std::string(8, '\0')), {"tensor 'w' appears twice in the header"});
}

TEST(SafetensorsHeader, RejectsDuplicateKeysInsideAnEntry) {
  const std::string header =
      R"({"w": {"dtype": "F32", "dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})";
  expect_invalid(safetensors_bytes(header, std::string(4, '\0')), {"key 'dtype' appears twice inside 'w'"});
}

TEST(SafetensorsHeader, RejectsOverlappingRanges) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                             R"( "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})";
  expect_invalid(safetensors_bytes(header, std::string(24, '\0')),
                 {"tensors 'a' [0, 16) and 'b' [8, 24) overlap"});
}

TEST(SafetensorsHeader, RejectsARangeNestedInsideAnother) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]},)"
                             R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [20, 24]},)"
                             R"( "c": {"dtype": "F32", "shape": [1], "data_offsets": [32, 36]}})";
  expect_invalid(safetensors_bytes(header, std::string(36, '\0')),
                 {"'a' [0, 32)", "'b' [20, 24)", "overlap"});
}

TEST(SafetensorsHeader, RejectsOffsetsPastTheDataSection) {
  expect_invalid(safetensors_bytes(f32_header("[4]", "[0, 16]"), std::string(8, '\0')),
                 {"tensor 'w' ends at byte 16 but the data section has 8"});
  expect_invalid(safetensors_bytes(f32_header("[1]", "[1000, 1004]"), std::string(8, '\0')),
                 {"tensor 'w' ends at byte 1004 but the data section has 8"});
}

TEST(SafetensorsHeader, RejectsShapeThatDisagreesWithByteLength) {
  expect_invalid(safetensors_bytes(f32_header("[2, 3]", "[0, 20]"), std::string(24, '\0')),
                 {"tensor 'w'", "shape [2, 3] of F32 needs 24 bytes, but data_offsets [0, 20] span 20"});
  expect_invalid(safetensors_bytes(f32_header("[0, 3]", "[0, 4]"), std::string(4, '\0')), {"needs 0 bytes"});
}

TEST(SafetensorsHeader, RejectsShapesWhoseSizeOverflows) {
  expect_invalid(safetensors_bytes(f32_header("[4294967296, 4294967296, 4294967296]", "[0, 0]")),
                 {"tensor 'w'", "too large"});
  expect_invalid(safetensors_bytes(f32_header("[18446744073709551615]", "[0, 4]"), std::string(4, '\0')),
                 {"tensor 'w'", "dimension 0"});
}

TEST(SafetensorsHeader, RejectsUnknownDtype) {
  const std::string header = R"({"w": {"dtype": "Q4_K", "shape": [1], "data_offsets": [0, 1]}})";
  expect_invalid(safetensors_bytes(header, "x"), {"tensor 'w' has unknown dtype 'Q4_K'"});
  const std::string lower = R"({"w": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})";
  expect_invalid(safetensors_bytes(lower, "xxxx"), {"unknown dtype 'f32'"});
}

TEST(SafetensorsHeader, RejectsNegativeOrNonIntegerShape) {
  expect_invalid(safetensors_bytes(f32_header("[2, -3]", "[0, 24]"), std::string(24, '\0')),
                 {"tensor 'w'", "dimension 1 is -3"});
  expect_invalid(safetensors_bytes(f32_header("[2.5]", "[0, 8]"), std::string(8, '\0')),
                 {"dimension 0 is 2.5"});
  expect_invalid(safetensors_bytes(f32_header("\"[2]\"", "[0, 8]"), std::string(8, '\0')),
                 {"'shape' must be an array"});
}

TEST(SafetensorsHeader, RejectsBeginAfterEnd) {
  expect_invalid(safetensors_bytes(f32_header("[2]", "[16, 8]"), std::string(16, '\0')),
                 {"tensor 'w'", "[16, 8] begins after it ends"});
}

TEST(SafetensorsHeader, RejectsMalformedOffsets) {
  expect_invalid(safetensors_bytes(f32_header("[1]", "[0, 4, 8]"), std::string(8, '\0')),
                 {"'data_offsets' must be"});
  expect_invalid(safetensors_bytes(f32_header("[1]", "[-4, 0]"), std::string(8, '\0')), {"[-4, 0]"});
  expect_invalid(safetensors_bytes(f32_header("[1]", "{\"begin\": 0}"), std::string(8, '\0')),
                 {"got an object"});
}

TEST(SafetensorsHeader, RejectsEntriesMissingFields) {
  expect_invalid(safetensors_bytes(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", "xxxx"),
                 {"tensor 'w' has no 'dtype'"});
  expect_invalid(safetensors_bytes(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", "xxxx"),
                 {"tensor 'w' has no 'shape'"});
  expect_invalid(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1]}})", "xxxx"),
                 {"tensor 'w' has no 'data_offsets'"});
  expect_invalid(safetensors_bytes(R"({"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", "xxxx"),
                 {"'dtype' must be a string, got 4"});
  expect_invalid(safetensors_bytes(R"({"w": [1, 2]})"), {"tensor 'w' must be a JSON object, got an array"});
}

TEST(SafetensorsHeader, ChecksMetadataIsAStringMap) {
  expect_invalid(safetensors_bytes(R"({"__metadata__": {"format": 3}})"),
                 {"'__metadata__'", "'format' holds 3"});
  expect_invalid(safetensors_bytes(R"({"__metadata__": "pt"})"), {"'__metadata__' must be an object"});
}

TEST(SafetensorsHeader, RejectsDeepNesting) {
  const std::string header = "{\"__metadata__\": " + std::string(200, '[') + std::string(200, ']') + "}";
  expect_invalid(safetensors_bytes(header), {"nests deeper than"});
}

TEST(SafetensorsHeader, EscapesControlCharactersInNames) {
  const std::string header = R"({"a\nb": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 1]}})";
  expect_invalid(safetensors_bytes(header, "x"), {"tensor 'a\\x0ab' has unknown dtype"});
}

// ---- SafetensorsFile ----

class SafetensorsFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& bytes) {
    const std::string path = dir_.file("model.safetensors");
    write_file(path, bytes);
    return path;
  }
  TempDir dir_;
};

// Packed back to back with no gaps, as writers do; ordered so each tensor starts at a
// multiple of its element size.
std::vector<testing::TestTensor> every_loadable_dtype() {
  return {
      {"f32", "F32", "[2, 2]", raw_bytes<float>({1.5f, -2.0f, 0.25f, 1e10f})},  // [0, 16)
      {"i32", "I32", "[2]", raw_bytes<int32_t>({-7, 123456})},                  // [16, 24)
      {"i64", "I64", "[1]", raw_bytes<int64_t>({5})},                           // [24, 32)
      // f16 1.0, -2.0, 0.5, 65504 (the largest finite f16)
      {"f16", "F16", "[2, 2]", raw_bytes<uint16_t>({0x3C00, 0xC000, 0x3800, 0x7BFF})},  // [32, 40)
      // bf16 1.0, -2.5, 0.15625 (sign | 8-bit exponent | 7-bit mantissa)
      {"bf16", "BF16", "[3]", raw_bytes<uint16_t>({0x3F80, 0xC020, 0x3E20})},  // [40, 46)
  };
}

TEST_F(SafetensorsFileTest, ReadsF32Values) {
  const SafetensorsFile file = SafetensorsFile::open(write(build_safetensors(every_loadable_dtype())));
  const Tensor tensor = file.tensor(*file.find("f32"));
  EXPECT_EQ(tensor.dtype(), DType::kF32);
  EXPECT_EQ(tensor.shape(), (Shape{2, 2}));
  const float* values = tensor.data<float>();
  EXPECT_EQ(values[0], 1.5f);
  EXPECT_EQ(values[1], -2.0f);
  EXPECT_EQ(values[2], 0.25f);
  EXPECT_EQ(values[3], 1e10f);
}

TEST_F(SafetensorsFileTest, ReadsBF16Values) {
  const SafetensorsFile file = SafetensorsFile::open(write(build_safetensors(every_loadable_dtype())));
  const Tensor tensor = file.tensor(*file.find("bf16"));
  EXPECT_EQ(tensor.dtype(), DType::kBF16);
  EXPECT_EQ(tensor.shape(), (Shape{3}));
  const bf16* values = tensor.data<bf16>();
  EXPECT_EQ(to_f32(values[0]), 1.0f);
  EXPECT_EQ(to_f32(values[1]), -2.5f);
  EXPECT_EQ(to_f32(values[2]), 0.15625f);
}

TEST_F(SafetensorsFileTest, ReadsF16Values) {
  const SafetensorsFile file = SafetensorsFile::open(write(build_safetensors(every_loadable_dtype())));
  const Tensor tensor = file.tensor(*file.find("f16"));
  EXPECT_EQ(tensor.dtype(), DType::kF16);
  const f16* values = tensor.data<f16>();
  EXPECT_EQ(to_f32(values[0]), 1.0f);
  EXPECT_EQ(to_f32(values[1]), -2.0f);
  EXPECT_EQ(to_f32(values[2]), 0.5f);
  EXPECT_EQ(to_f32(values[3]), 65504.0f);
}

TEST_F(SafetensorsFileTest, ReadsI32Values) {
  const SafetensorsFile file = SafetensorsFile::open(write(build_safetensors(every_loadable_dtype())));
  const Tensor tensor = file.tensor(*file.find("i32"));
  EXPECT_EQ(tensor.data<int32_t>()[0], -7);
  EXPECT_EQ(tensor.data<int32_t>()[1], 123456);
}

TEST_F(SafetensorsFileTest, OtherDtypesAreUnsupportedByName) {
  const std::string path = write(build_safetensors(every_loadable_dtype()));
  const SafetensorsFile file = SafetensorsFile::open(path);
  const Error error = capture_error([&] { file.tensor(*file.find("i64")); });
  EXPECT_EQ(error.kind(), ErrorKind::kUnsupported);
  EXPECT_THAT(error.what(), StartsWith(path + ": "));
  EXPECT_THAT(error.what(), HasSubstr("tensor 'i64' has dtype 'I64'"));
}

TEST_F(SafetensorsFileTest, FindReturnsNullForAbsentNames) {
  const SafetensorsFile file = SafetensorsFile::open(write(build_safetensors(every_loadable_dtype())));
  EXPECT_EQ(file.find("missing"), nullptr);
  EXPECT_EQ(file.find("f3"), nullptr);
  ASSERT_NE(file.find("i32"), nullptr);
  EXPECT_EQ(file.find("i32")->name, "i32");
  EXPECT_EQ(file.entries().size(), 5u);
}

TEST_F(SafetensorsFileTest, AlignedTensorsViewTheMappingAndOutliveTheFile) {
  std::optional<SafetensorsFile> file =
      SafetensorsFile::open(write(build_safetensors(every_loadable_dtype())));
  const TensorEntry entry = *file->find("f32");
  const Tensor first = file->tensor(entry);
  // Views of the same mapped bytes, not fresh copies.
  EXPECT_EQ(first.raw(), file->tensor(entry).raw());
  file.reset();
  EXPECT_EQ(first.data<float>()[3], 1e10f);
}

TEST_F(SafetensorsFileTest, MisalignedTensorsAreCopiedToAlignedMemory) {
  const SafetensorsFile file = SafetensorsFile::open(write(build_safetensors(every_loadable_dtype(), 1)));
  const Tensor tensor = file.tensor(*file.find("f32"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor.raw()) % alignof(float), 0u);
  EXPECT_NE(tensor.raw(), file.tensor(*file.find("f32")).raw()) << "each call copies";
  EXPECT_EQ(tensor.data<float>()[0], 1.5f);
  EXPECT_EQ(tensor.data<float>()[3], 1e10f);
  EXPECT_EQ(to_f32(file.tensor(*file.find("bf16")).data<bf16>()[1]), -2.5f);
}

TEST_F(SafetensorsFileTest, RejectsTruncatedData) {
  const std::string whole = build_safetensors(every_loadable_dtype());
  const std::string path = write(whole.substr(0, whole.size() - 3));
  const Error error = capture_error([&] { SafetensorsFile::open(path); });
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  EXPECT_THAT(error.what(), StartsWith(path + ": "));
  // The last tensor (bf16, 6 bytes) ends at byte 46 of the data section.
  EXPECT_THAT(error.what(), HasSubstr("tensor 'bf16' ends at byte 46 but the data section has 43"));
}

TEST_F(SafetensorsFileTest, MissingFileIsNotFound) {
  const Error error = capture_error([&] { SafetensorsFile::open(dir_.file("absent.safetensors")); });
  EXPECT_EQ(error.kind(), ErrorKind::kNotFound);
  EXPECT_THAT(error.what(), HasSubstr("absent.safetensors"));
}

}  // namespace
}  // namespace hanlin::io

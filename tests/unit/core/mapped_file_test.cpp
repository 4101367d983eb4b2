// MappedFile: maps whole files, reports missing files and directories with their path.
#include "core/mapped_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace hanlin {
namespace {

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("hanlin_mapped_file_test_" + name);
}

TEST(MappedFile, MapsContents) {
  const auto path = temp_path("contents");
  std::ofstream(path, std::ios::binary) << "hello, world";
  auto file = MappedFile::open(path.string());
  ASSERT_EQ(file->size(), 12u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file->bytes().data()), file->size()), "hello, world");
  EXPECT_EQ(read_text_file(path.string()), "hello, world");
  std::filesystem::remove(path);
}

TEST(MappedFile, EmptyFileMapsToEmptySpan) {
  const auto path = temp_path("empty");
  std::ofstream(path, std::ios::binary).close();
  EXPECT_EQ(MappedFile::open(path.string())->size(), 0u);
  std::filesystem::remove(path);
}

TEST(MappedFile, MissingFileNamesThePath) {
  try {
    MappedFile::open("/nonexistent/hanlin/model.safetensors");
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(error.what()).find("/nonexistent/hanlin/model.safetensors"), std::string::npos);
  }
  EXPECT_THROW(read_text_file("/nonexistent/hanlin/config.json"), Error);
}

TEST(MappedFile, DirectoryIsRejected) {
  try {
    MappedFile::open(std::filesystem::temp_directory_path().string());
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  }
}

}  // namespace
}  // namespace hanlin

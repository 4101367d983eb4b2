// BatchView::validate: each broken invariant is caught as Error(kInternal) before a forward.
#include "model/batch_view.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/error.h"

namespace hanlin::model {
namespace {

constexpr int64_t kBlockSize = 16;
constexpr int64_t kNumBlocks = 8;

// Two sequences: A prefills 3 tokens at positions 16..18 in block 5 (after a cached block 2);
// B decodes one token at position 4 of block 7.
struct ValidView {
  std::vector<int32_t> table_a = {2, 5};
  std::vector<int32_t> table_b = {7};
  BatchView view;

  ValidView() {
    view.token_ids = {10, 11, 12, 13};
    view.positions = {16, 17, 18, 4};
    view.seqs = {{0, 3, 19, table_a}, {3, 1, 5, table_b}};
    view.slot_mapping = {80, 81, 82, 116};
    view.logits_rows = {2, 3};
  }
};

std::string validate_error(const std::function<void(ValidView&)>& corrupt) {
  ValidView valid;
  corrupt(valid);
  try {
    valid.view.validate(kNumBlocks, kBlockSize);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInternal);
    return error.what();
  }
  return "";
}

TEST(BatchView, AcceptsAMixedPrefillAndDecodeBatch) {
  EXPECT_EQ(validate_error([](ValidView&) {}), "");
  EXPECT_EQ(validate_error([](ValidView& v) { v.view.slot_mapping[1] = -1; }), "");  // skipped row
  EXPECT_EQ(validate_error([](ValidView& v) { v.view.logits_rows.clear(); }), "");
}

TEST(BatchView, RejectsMismatchedSizes) {
  EXPECT_NE(validate_error([](ValidView& v) { v.view.positions.pop_back(); }), "");
  EXPECT_NE(validate_error([](ValidView& v) { v.view.slot_mapping.push_back(-1); }), "");
  EXPECT_NE(validate_error([](ValidView& v) { v.view = BatchView{}; }), "");
}

TEST(BatchView, RejectsRowsNotCoveredExactlyOnce) {
  EXPECT_NE(validate_error([](ValidView& v) { v.view.seqs.pop_back(); }), "");
  EXPECT_NE(validate_error([](ValidView& v) { v.view.seqs[1].q_start = 2; }), "");
  EXPECT_NE(validate_error([](ValidView& v) { v.view.seqs[1].q_len = 2; v.view.seqs[1].context_len = 6; }), "");
}

TEST(BatchView, RejectsContextShorterThanTheQuery) {
  EXPECT_NE(validate_error([](ValidView& v) { v.view.seqs[0].context_len = 2; }), "");
}

TEST(BatchView, RejectsShortOrOutOfRangeBlockTables) {
  EXPECT_NE(validate_error([](ValidView& v) { v.table_a.pop_back(); v.view.seqs[0].block_table = v.table_a; }), "");
  EXPECT_NE(validate_error([](ValidView& v) { v.table_b[0] = 8; }), "");
  EXPECT_NE(validate_error([](ValidView& v) { v.table_b[0] = -1; }), "");
}

TEST(BatchView, RejectsSlotsThatAttentionWouldNotReadBack) {
  const std::string message = validate_error([](ValidView& v) { v.view.slot_mapping[0] = 33; });
  EXPECT_NE(message.find("writes slot 33"), std::string::npos) << message;
  EXPECT_NE(message.find("lives in slot 80"), std::string::npos) << message;
}

TEST(BatchView, RejectsLogitsRowsOutsideTheBatch) {
  EXPECT_NE(validate_error([](ValidView& v) { v.view.logits_rows.push_back(4); }), "");
  EXPECT_NE(validate_error([](ValidView& v) { v.view.logits_rows.push_back(-1); }), "");
}

}  // namespace
}  // namespace hanlin::model

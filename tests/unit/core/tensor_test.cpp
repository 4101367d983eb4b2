// Tensor: allocation, typed access checks, reshape and row slices share the buffer.
#include "core/tensor.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace hanlin {
namespace {

TEST(Tensor, ZerosIsZeroFilledAndAligned) {
  Tensor tensor = Tensor::zeros({3, 5}, DType::kF32);
  EXPECT_EQ(tensor.numel(), 15);
  EXPECT_EQ(tensor.nbytes(), 60u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor.raw()) % 64, 0u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(tensor.data<float>()[i], 0.0f);
}

// Large buffers take zero pages from the kernel instead of a memset: still zero, aligned,
// writable, and freed with the last copy.
TEST(Tensor, LargeZerosAreZeroFilledAlignedAndWritable) {
  const int64_t count = (int64_t{3} << 20) / 4 + 5;  // 3 MiB and a bit: not a whole number of pages
  Tensor tensor = Tensor::zeros({count}, DType::kF32);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor.raw()) % 64, 0u);
  float* data = tensor.data<float>();
  for (int64_t i = 0; i < count; i += 997) EXPECT_EQ(data[i], 0.0f);
  EXPECT_EQ(data[count - 1], 0.0f);
  data[0] = 1.0f;
  data[count - 1] = 2.0f;
  Tensor copy = tensor;
  tensor = Tensor();
  EXPECT_EQ(copy.data<float>()[count - 1], 2.0f);
}

TEST(Tensor, WrongTypedAccessThrows) {
  Tensor tensor = Tensor::zeros({2}, DType::kBF16);
  EXPECT_NO_THROW(tensor.data<bf16>());
  EXPECT_THROW(tensor.data<float>(), Error);
}

TEST(Tensor, SliceRowsAndReshapeShareTheBuffer) {
  Tensor tensor = Tensor::zeros({4, 3}, DType::kF32);
  for (int i = 0; i < 12; ++i) tensor.data<float>()[i] = static_cast<float>(i);
  Tensor rows = tensor.slice_rows(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 3}));
  EXPECT_EQ(rows.data<float>()[0], 3.0f);
  rows.data<float>()[0] = 42.0f;
  EXPECT_EQ(tensor.data<float>()[3], 42.0f);
  Tensor flat = tensor.reshape({12});
  EXPECT_EQ(flat.data<float>()[3], 42.0f);
  EXPECT_THROW(tensor.reshape({5}), Error);
  EXPECT_THROW(tensor.slice_rows(2, 5), Error);
  EXPECT_EQ(tensor.dim(-1), 3);
  EXPECT_THROW(tensor.dim(2), Error);
}

TEST(Tensor, BorrowKeepsOwnerAlive) {
  auto owner = std::make_shared<std::vector<float>>(6, 1.5f);
  Tensor view = Tensor::borrow(owner->data(), {2, 3}, DType::kF32, owner);
  std::weak_ptr<std::vector<float>> watch = owner;
  owner.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(view.data<float>()[5], 1.5f);
  view = Tensor();
  EXPECT_TRUE(watch.expired());
}

TEST(Tensor, NegativeExtentIsRejected) {
  EXPECT_THROW(Tensor::zeros({2, -1}, DType::kF32), Error);
}

}  // namespace
}  // namespace hanlin

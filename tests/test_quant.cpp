// libtorch (through glog) defines CHECK; Catch's must win.
#include "compute/quant.hpp"
#include "compute/tensor_memory.hpp"
#undef CHECK
#undef CHECK_EQ

#include <catch2/catch.hpp>

using namespace fedq::compute;

namespace {

torch::Tensor normal(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::normal(0.0, 0.05, shape, gen);
}

} // namespace

TEST_CASE("the NF4 code values are QLoRA's and exact multiples of the absmax survive") {
  const std::array<float, 16> want{-1.0f,      -0.6961928f, -0.5250731f, -0.3949175f,
                                   -0.2844414f, -0.1847734f, -0.0910500f, 0.0f,
                                   0.0795803f,  0.1609302f,  0.2461123f,  0.3379152f,
                                   0.4407098f,  0.5626170f,  0.7229568f,  1.0f};
  CHECK(nf4_codes() == want);
  // One block of 64 values, each a code times 0.5: dequantizes exactly.
  std::vector<float> v;
  for (int i = 0; i < 64; ++i)
    v.push_back(0.5f * want[size_t(i % 16)]);
  auto w = torch::tensor(v).view({4, 16});
  auto q = quantize(w, weight_format::nf4);
  CHECK(q.data.numel() == 32);
  CHECK(q.block_absmax().item<float>() == 0.5f);
  CHECK(torch::equal(q.dequantize(), w));
}

TEST_CASE("NF4 error stays within half the widest code gap times the block absmax") {
  auto w = normal({96, 128}, 3);
  auto q = quantize(w, weight_format::nf4);
  auto err = (q.dequantize() - w).abs().view({-1, nf4_block});
  auto am = w.abs().view({-1, nf4_block}).amax(1, true);
  float half_gap = (1.0f - 0.6961928f) / 2;  // the widest gap, between -1 and the next code
  CHECK((err <= am * half_gap + 1e-7).all().item<bool>());
  // On normal weights the mean error is far below that bound.
  CHECK((err / am).mean().item<float>() < 0.05f);
  CHECK(q.bytes() == 96 * 128 / 2 + 96 * 128 / 64 * 4);  // 4.5 bits per value
}

TEST_CASE("NF4 handles a partial last block and int8 and bf16 stay close") {
  auto w = normal({3, 5}, 4);  // 15 values: one partial block
  auto q = quantize(w, weight_format::nf4);
  REQUIRE(q.dequantize().sizes() == w.sizes());
  CHECK(((q.dequantize() - w).abs() <= w.abs().max() * 0.152).all().item<bool>());
  auto w8 = normal({16, 40}, 5);
  auto q8 = quantize(w8, weight_format::int8);
  auto row_max = w8.abs().amax(1, true);
  CHECK(((q8.dequantize() - w8).abs() <= row_max / 127 / 2 + 1e-7).all().item<bool>());
  auto qb = quantize(w8, weight_format::bf16);
  CHECK(torch::allclose(qb.dequantize(), w8, 1e-2, 1e-4));
  CHECK(qb.bytes() == 16 * 40 * 2);
  CHECK(torch::equal(quantize(w8, weight_format::fp32).dequantize(), w8));
}

TEST_CASE("dequantize_into writes what dequantize returns into a kept buffer, and refuses a wrong one") {
  auto w = normal({7, 70}, 9);  // 490 values: the last nf4 block partial
  for (auto [f, dq] : {std::pair{weight_format::nf4, false}, std::pair{weight_format::nf4, true},
                       std::pair{weight_format::int8, false}, std::pair{weight_format::bf16, false},
                       std::pair{weight_format::fp32, false}}) {
    auto q = quantize(w, f, dq);
    auto out = torch::full({7, 70}, 123.0f);
    q.dequantize_into(out);
    CHECK(torch::equal(out, q.dequantize()));
    auto again = out.data_ptr<float>();
    q.dequantize_into(out);
    CHECK(out.data_ptr<float>() == again);  // written in place, not replaced
  }
  auto q = quantize(w, weight_format::nf4);
  auto wrong_shape = torch::empty({70, 7});
  CHECK_THROWS_WITH(q.dequantize_into(wrong_shape), Catch::Contains("contiguous fp32 (7, 70)"));
  auto wrong_type = torch::empty({7, 70}, torch::kFloat64);
  CHECK_THROWS(q.dequantize_into(wrong_type));
  auto strided = torch::empty({70, 7}).t();
  CHECK_THROWS(q.dequantize_into(strided));
}

TEST_CASE("the tensor memory count sees a tensor's bytes while it lives, and its peak after it is gone") {
  count_tensor_memory();
  count_tensor_memory();  // idempotent
  auto q = quantize(normal({256, 512}, 10), weight_format::nf4);
  double before = tensor_memory_mb();
  reset_tensor_peak();
  CHECK(tensor_peak_mb() == before);
  {
    auto w = q.dequantize();  // 256 x 512 fp32: 0.5 MB
    CHECK(tensor_memory_mb() - before == Approx(0.5).margin(1e-9));
  }
  CHECK(tensor_memory_mb() == Approx(before));
  CHECK(tensor_peak_mb() - before >= 0.5);
  reset_tensor_peak();
  CHECK(tensor_peak_mb() == Approx(before));
}

TEST_CASE("double quantization round-trips the block constants at about 4.13 bits per value") {
  auto w = normal({512, 512}, 6);
  auto plain = quantize(w, weight_format::nf4);
  auto dq = quantize(w, weight_format::nf4, /*double_quant=*/true);
  REQUIRE(dq.double_quant);
  auto a = plain.block_absmax(), b = dq.block_absmax();
  REQUIRE(a.sizes() == b.sizes());
  // Each decoded absmax is within half a step of its group's 8-bit scale.
  auto step = dq.absmax_scale.max().item<float>();
  CHECK((a - b).abs().max().item<float>() <= step / 2 + 1e-6);
  double bits = dq.bytes() * 8.0 / w.numel();
  CHECK(bits == Approx(4.127).margin(0.01));
  CHECK(plain.bytes() * 8.0 / w.numel() == Approx(4.5));
  CHECK((dq.dequantize() - plain.dequantize()).abs().max().item<float>() < step);
}

TEST_CASE("a quantized linear layer gives the dequantized result and the input gradient") {
  auto w = normal({24, 64}, 7);
  auto q = quantize(w, weight_format::nf4);
  auto bias = normal({24}, 8);
  auto x = normal({5, 64}, 9).requires_grad_(true);
  auto y = quant_linear(x, q, bias);
  auto ref_x = x.detach().clone().requires_grad_(true);
  auto ref = torch::linear(ref_x, q.dequantize(), bias);
  CHECK(torch::allclose(y, ref, 1e-5, 1e-6));
  auto g = normal({5, 24}, 10);
  y.backward(g);
  ref.backward(g);
  CHECK(torch::allclose(x.grad(), ref_x.grad(), 1e-5, 1e-6));
  CHECK_THROWS_WITH(parse_weight_format("fp8"), Catch::Contains("nf4, int8, bf16, fp32"));
}

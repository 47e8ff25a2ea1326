#pragma once
// The 16 NF4 code values (QLoRA), ascending, -1 .. 1: the one table that the
// CPU path (compute/quant.cpp) and the CUDA kernel (compute/cuda/) share.

#include <array>

namespace fedq::compute {

constexpr std::array<float, 16> nf4_code_values{
  -1.0f,       -0.6961928f, -0.5250731f, -0.3949175f, -0.2844414f, -0.1847734f,
  -0.0910500f, 0.0f,        0.0795803f,  0.1609302f,  0.2461123f,  0.3379152f,
  0.4407098f,  0.5626170f,  0.7229568f,  1.0f};

} // namespace fedq::compute

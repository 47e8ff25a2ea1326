#pragma once
// The bytes that libtorch's CPU tensors hold, counted by an allocator that
// wraps libtorch's own: what a step's tensors need at their peak, apart
// from what glibc keeps of freed memory (which RSS also shows).

#include <cstdint>

namespace fedq::compute {

/// Installs the counting allocator for every later CPU tensor (idempotent).
/// Tensors made before keep their own deleters and are not counted.
void count_tensor_memory();

/// MB held now by the tensors made since count_tensor_memory(), and the
/// most they held at once since the last reset_tensor_peak() (0 before).
double tensor_memory_mb();
double tensor_peak_mb();
/// Sets the peak to what is held now.
void reset_tensor_peak();

} // namespace fedq::compute

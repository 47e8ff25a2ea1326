#pragma once

namespace fedq::compute {

/// OpenBLAS picks its kernels from the CPU model when it loads. On a CPU
/// model it does not know (Debian's 0.3.21 on recent Xeons, virtualized ones
/// that hide the model), it falls back to its generic "Prescott" kernels,
/// whose single-precision GEMM is about 5x slower than the AVX-512 ones on
/// the same core. Since the choice is made before main, the only fix is the
/// environment: when OpenBLAS is on that fallback, OPENBLAS_CORETYPE is
/// unset and the CPU has AVX2 (Haswell kernels) or AVX-512 (SkylakeX), this
/// sets OPENBLAS_CORETYPE and starts the program again with the same
/// arguments. It returns when nothing is to be done (or the restart failed).
/// A user's own OPENBLAS_CORETYPE is always kept. Call it first in main.
void restart_with_fast_blas(char** argv);

/// The OpenBLAS core in use ("" when OpenBLAS is not loaded).
const char* blas_core_name();

} // namespace fedq::compute

#include "compute/blas_core.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace fedq::compute {

const char* blas_core_name() {
  using corename_fn = char* (*)();
  auto f = reinterpret_cast<corename_fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = f ? f() : nullptr;
  return name ? name : "";
}

void restart_with_fast_blas(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr)
    return;  // the user's choice, or this is the restarted process
  if (std::strcmp(blas_core_name(), "Prescott") != 0)
    return;  // OpenBLAS recognized the CPU (or is not loaded)
  __builtin_cpu_init();
  const char* core = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    core = "SkylakeX";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    core = "Haswell";
  if (core == nullptr)
    return;  // the fallback is right for this CPU
  setenv("OPENBLAS_CORETYPE", core, 1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // the restart failed: go on as before
}

} // namespace fedq::compute

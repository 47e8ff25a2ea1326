// The main of the tests that run libtorch in their own process: OpenBLAS's
// kernels are chosen as the fedq program chooses them.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "compute/blas_core.hpp"

int main(int argc, char** argv) {
  fedq::compute::restart_with_fast_blas(argv);
  return Catch::Session().run(argc, argv);
}

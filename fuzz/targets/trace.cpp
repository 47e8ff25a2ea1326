// Bandwidth and availability trace CSVs of [[tiers]].
#include "scheduling/environment.hpp"
#include "fuzz/targets/input_file.hpp"

#include <cmath>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = fedq::fuzz::input_file(data, size, ".csv");
  for (bool availability : {false, true}) {
    try {
      auto tr = availability ? fedq::scheduling::read_availability_trace(path)
                             : fedq::scheduling::read_bandwidth_trace(path);
      for (double t : {0.0, 1.5, 1e6})  // replaying must stay inside the rows
        if (tr.row_at(t) >= tr.time_s.size() || !std::isfinite(tr.period_s))
          __builtin_trap();
    } catch (const std::runtime_error&) {
    }
  }
  return 0;
}

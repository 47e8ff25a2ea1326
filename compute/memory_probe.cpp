#include "compute/memory_probe.hpp"

#include <malloc.h>

#include <fstream>

namespace fedq::compute {

double status_mb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0)
      return std::stod(line.substr(key.size() + 1)) / 1024.0;  // kB
  return -1;
}

double heap_in_use_mb() {
  auto m = mallinfo2();
  return double(m.uordblks + m.hblkhd) / (1024.0 * 1024.0);
}

bool reset_peak_rss() {
  malloc_trim(0);  // freed heap pages go back, so a later peak counts what a call touches
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return bool(out);
}

} // namespace fedq::compute

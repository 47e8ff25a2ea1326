#pragma once
// The median the bench programs report: the middle value, or the mean of the
// two middle values of an even count; 0 for no values.

#include <algorithm>
#include <vector>

namespace fedq::bench {

inline double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

} // namespace fedq::bench

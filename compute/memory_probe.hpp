#pragma once
// This process's resident memory as Linux reports it (/proc/self/status), and
// a reset of its high-water mark, for measured (not modelled) peaks. No libtorch.

#include <string>

namespace fedq::compute {

/// A /proc/self/status entry in MB ("VmRSS", "VmHWM"); -1 where unavailable.
double status_mb(const std::string& key);

/// Returns freed heap memory to the system, then resets VmHWM to the current
/// RSS (/proc/self/clear_refs); false where the kernel does not allow it, and
/// then peaks include everything before.
bool reset_peak_rss();

} // namespace fedq::compute

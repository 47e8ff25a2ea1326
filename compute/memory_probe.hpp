#pragma once
// This process's resident memory as Linux reports it (/proc/self/status), and
// a reset of its high-water mark, for measured (not modelled) peaks, and the
// heap in use. No libtorch.

#include <string>

namespace fedq::compute {

/// A /proc/self/status entry in MB ("VmRSS", "VmHWM"); -1 where unavailable.
double status_mb(const std::string& key);

/// Bytes (in MB) that malloc has handed out and not taken back, over every
/// arena and mmap'd block (glibc's mallinfo2). Unlike RSS, it does not
/// depend on whether freed pages went back to the system, so the difference
/// of two readings is what the code between them still holds.
double heap_in_use_mb();

/// Returns freed heap memory to the system, then resets VmHWM to the current
/// RSS (/proc/self/clear_refs); false where the kernel does not allow it, and
/// then peaks include everything before.
bool reset_peak_rss();

} // namespace fedq::compute

#pragma once
// cereal's vectors and strings, when read from a PortableBinaryInputArchive,
// resize to whatever count the input claims before reading a byte of it: a
// few bytes of a hostile payload could ask for terabytes. These overloads
// (more specialized than cereal's, so chosen over them) refuse a count
// whose elements could not fit in the input being decoded, whose size an
// input_limit on the decoding thread gives. Include this before any cereal
// load of such types.

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "serialization/framing.hpp"

namespace fedq::serialization {

/// While alive, the reads below on this thread are limited to `bytes`.
class input_limit {
public:
  explicit input_limit(size_t bytes) : prev_(current()) { current() = bytes; }
  ~input_limit() { current() = prev_; }
  input_limit(const input_limit&) = delete;
  input_limit& operator=(const input_limit&) = delete;

  /// The limit in force on this thread; 0 = none.
  static size_t& current() {
    thread_local size_t limit = 0;
    return limit;
  }

  /// Throws format_error when `count` elements of at least `min_bytes` each
  /// cannot fit in the limit.
  static void check(uint64_t count, size_t min_bytes) {
    size_t limit = current();
    if (limit > 0 && count > limit / min_bytes)
      throw format_error("a sequence of " + std::to_string(count) +
                         " elements is longer than the whole input (" + std::to_string(limit) +
                         " bytes)");
  }

private:
  size_t prev_;
};

} // namespace fedq::serialization

namespace cereal {

template <class T, class A>
void CEREAL_LOAD_FUNCTION_NAME(PortableBinaryInputArchive& ar, std::vector<T, A>& v) {
  static_assert(!std::is_same<T, bool>::value, "std::vector<bool> is not supported here");
  size_type n;
  ar(make_size_tag(n));
  if constexpr (std::is_arithmetic<T>::value) {
    fedq::serialization::input_limit::check(n, sizeof(T));
    v.resize(static_cast<std::size_t>(n));
    ar(binary_data(v.data(), static_cast<std::size_t>(n) * sizeof(T)));
  } else {
    fedq::serialization::input_limit::check(n, 1);
    v.resize(static_cast<std::size_t>(n));
    for (auto&& x : v)
      ar(x);
  }
}

template <class C, class Tr, class A>
void CEREAL_LOAD_FUNCTION_NAME(PortableBinaryInputArchive& ar, std::basic_string<C, Tr, A>& s) {
  size_type n;
  ar(make_size_tag(n));
  fedq::serialization::input_limit::check(n, sizeof(C));
  s.resize(static_cast<std::size_t>(n));
  ar(binary_data(const_cast<C*>(s.data()), static_cast<std::size_t>(n) * sizeof(C)));
}

} // namespace cereal

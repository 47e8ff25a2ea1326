// A TOML experiment config, and --set overrides: the input's first line (if
// it starts with "--set ") is taken as one override, the rest as the file.
#include "app/config.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  if (text.rfind("--set ", 0) == 0) {
    auto nl = text.find('\n');
    overrides.push_back(text.substr(6, nl == std::string::npos ? std::string::npos : nl - 6));
    text = nl == std::string::npos ? "" : text.substr(nl + 1);
  }
  try {
    auto c = fedq::app::parse_config(text, "fuzz.toml", overrides);
    // What it accepts, written back, reads as the same config.
    auto again = fedq::app::to_toml(c);
    if (fedq::app::to_toml(fedq::app::parse_config(again, "again.toml", {})) != again)
      __builtin_trap();
  } catch (const fedq::app::config_error&) {
  }
  return 0;
}

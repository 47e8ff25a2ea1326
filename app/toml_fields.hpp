#pragma once
// Reading and writing a config's scalar settings from a list of (key, field)
// pairs: one list per config serves parsing, --set overrides, unknown-key
// errors (with the file and line) and the effective config written back.

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <toml++/toml.h>

#include "app/config.hpp"

namespace fedq::app {

inline std::string where(const toml::node& n) {
  const auto& src = n.source();
  std::string file = src.path ? std::string(*src.path) : std::string("<config>");
  return src.begin.line ? file + ":" + std::to_string(src.begin.line) : file;
}

[[noreturn]] inline void bad(const toml::node& n, const std::string& key, const std::string& want) {
  std::ostringstream v;
  n.visit([&v](const auto& x) { v << x; });
  throw config_error(where(n) + ": " + key + " must be " + want + ", got " + v.str());
}

inline void read_value(const toml::node& n, const std::string& key, std::string& v) {
  if (!n.is_string())
    bad(n, key, "a string");
  v = *n.value<std::string>();
}

inline void read_value(const toml::node& n, const std::string& key, bool& v) {
  if (!n.is_boolean())
    bad(n, key, "true or false");
  v = *n.value<bool>();
}

inline void read_value(const toml::node& n, const std::string& key, double& v) {
  if (!n.is_number())
    bad(n, key, "a number");
  v = *n.value<double>();
  if (!std::isfinite(v))
    bad(n, key, "a finite number");
}

template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
inline void read_value(const toml::node& n, const std::string& key, T& v) {
  if (!n.is_integer())
    bad(n, key, "an integer");
  auto x = *n.value<int64_t>();
  if (x < 0 || static_cast<uint64_t>(x) > std::numeric_limits<T>::max())
    bad(n, key, "a non-negative integer in range");
  v = static_cast<T>(x);
}

inline void read_value(const toml::node& n, const std::string& key, std::vector<std::string>& v) {
  auto* arr = n.as_array();
  if (!arr)
    bad(n, key, "an array of strings");
  v.clear();
  for (const auto& e : *arr) {
    if (!e.is_string())
      bad(n, key, "an array of strings");
    v.push_back(*e.value<std::string>());
  }
}

inline void read_value(const toml::node& n, const std::string& key, std::vector<uint32_t>& v) {
  auto* arr = n.as_array();
  if (!arr)
    bad(n, key, "an array of integers");
  v.clear();
  for (const auto& e : *arr) {
    uint32_t x = 0;
    read_value(e, key, x);
    v.push_back(x);
  }
}

inline void read_value(const toml::node& n, const std::string& key, std::vector<double>& v) {
  auto* arr = n.as_array();
  if (!arr)
    bad(n, key, "an array of numbers");
  v.clear();
  for (const auto& e : *arr) {
    double x = 0;
    read_value(e, key, x);
    v.push_back(x);
  }
}

template <class T>
inline void write_value(toml::table& t, const std::string& key, const std::vector<T>& v) {
  toml::array a;
  for (const auto& s : v) {
    if constexpr (std::is_integral_v<T>)
      a.push_back(static_cast<int64_t>(s));
    else
      a.push_back(s);
  }
  t.insert_or_assign(key, std::move(a));
}
inline void write_value(toml::table& t, const std::string& key, const std::string& v) {
  t.insert_or_assign(key, v);
}
inline void write_value(toml::table& t, const std::string& key, bool v) { t.insert_or_assign(key, v); }
inline void write_value(toml::table& t, const std::string& key, double v) { t.insert_or_assign(key, v); }
template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
inline void write_value(toml::table& t, const std::string& key, T v) {
  t.insert_or_assign(key, static_cast<int64_t>(v));
}

/// The table at a dotted key's parent, created on demand; returns the leaf name.
inline std::pair<toml::table*, std::string> parent_of(toml::table& root, const std::string& key) {
  toml::table* t = &root;
  std::string rest = key;
  for (auto dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
    auto part = rest.substr(0, dot);
    auto* child = (*t)[part].as_table();
    if (!child) {
      t->insert_or_assign(part, toml::table{});
      child = (*t)[part].as_table();
    }
    t = child;
    rest = rest.substr(dot + 1);
  }
  return {t, rest};
}

/// Puts `kv` ("key=value") into the table; returns the key.
inline std::string apply_override(toml::table& root, const std::string& kv,
                           const std::set<std::string>& known) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    throw config_error("--set " + kv + ": expected key=value (e.g. --set round.mode=sync)");
  std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
  if (!known.count(key))
    throw config_error("--set " + kv + ": unknown key '" + key +
                       "' (a tier's keys are set as tiers.NAME.KEY=VALUE; see configs/quickstart.toml "
                       "for every key)");
  std::string source = "--set " + kv;
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value, source);
  } catch (const toml::parse_error&) {
    parsed = toml::parse("v = \"\"", source); // a bare word: take it as a string
    parsed.insert_or_assign("v", value);
  }
  auto [t, leaf] = parent_of(root, key);
  t->insert_or_assign(leaf, *parsed.get("v"));
  return key;
}

inline void check_unknown(const toml::table& t, const std::string& prefix,
                   const std::set<std::string>& known, const std::set<std::string>& skip) {
  for (const auto& [k, node] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (skip.count(key))
      continue;
    if (auto* sub = node.as_table()) {
      check_unknown(*sub, key, known, skip);
      continue;
    }
    if (!known.count(key)) {
      std::string hint;
      auto dot = key.find('.');
      std::string section = dot == std::string::npos ? "" : key.substr(0, dot + 1);
      for (const auto& kk : known)
        if (!section.empty() && kk.rfind(section, 0) == 0)
          hint += (hint.empty() ? "" : ", ") + kk;
      throw config_error(where(node) + ": unknown key '" + key + "'" +
                         (hint.empty() ? "" : " (known in this section: " + hint + ")"));
    }
  }
}

/// Parses `text`, applies `overrides` ("key=value") and reads every key that
/// `fields` lists (fields(f) calls f(key, value&) for each). Keys it does not
/// list are errors, except under the tables named in `skip`. Returns the
/// table, for sections read by hand.
template <class Fields>
toml::table read_fields(const std::string& text, const std::string& source,
                        const std::vector<std::string>& overrides, Fields&& fields,
                        const std::set<std::string>& skip = {}) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw config_error(source + ":" + std::to_string(e.source().begin.line) + ": " +
                       std::string(e.description()));
  }
  std::set<std::string> known;
  fields([&](const char* key, auto&) { known.insert(key); });
  std::map<std::string, std::string> overridden;  // key -> "key=value"
  for (const auto& kv : overrides)
    overridden[apply_override(root, kv, known)] = kv;
  fields([&](const char* key, auto& v) {
    auto* node = root.at_path(key).node();
    if (!node)
      return;
    try {
      read_value(*node, key, v);
    } catch (const config_error& e) {
      auto it = overridden.find(key);
      if (it == overridden.end())
        throw;
      std::string msg = e.what();
      throw config_error("--set " + it->second + msg.substr(msg.find(':')));
    }
  });
  check_unknown(root, "", known, skip);
  return root;
}

/// The settings `fields` lists, as a TOML table.
template <class Fields>
toml::table write_fields(Fields&& fields) {
  toml::table root;
  fields([&](const char* key, auto& v) {
    auto [t, leaf] = parent_of(root, key);
    write_value(*t, leaf, v);
  });
  return root;
}

/// The whole text of a config file; config_error when it cannot be read.
inline std::string read_config_text(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw config_error(path + ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace fedq::app

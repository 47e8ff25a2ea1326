#include "app/bench_suite.hpp"

#include <algorithm>
#include <set>

#include "app/toml_fields.hpp"

namespace fedq::app {

namespace {

std::filesystem::path find_suite_file(const std::string& name_or_path) {
  std::filesystem::path p(name_or_path);
  if (std::filesystem::is_regular_file(p))
    return p;
  std::vector<std::filesystem::path> dirs{"configs/bench",
                                          std::filesystem::path(FEDQ_SOURCE_DIR) / "configs/bench"};
  for (const auto& d : dirs)
    if (std::filesystem::is_regular_file(d / (name_or_path + ".toml")))
      return d / (name_or_path + ".toml");
  std::set<std::string> known;
  for (const auto& d : dirs)
    if (std::filesystem::is_directory(d))
      for (const auto& e : std::filesystem::directory_iterator(d))
        if (e.path().extension() == ".toml")
          known.insert(e.path().stem().string());
  std::string list;
  for (const auto& k : known)
    list += (list.empty() ? "" : ", ") + k;
  throw config_error("no suite '" + name_or_path + "': not a file, and not in configs/bench" +
                     (list.empty() ? std::string() : " (suites: " + list + ")"));
}

std::vector<bench_variant> read_entries(const toml::table& root, const char* key,
                                        const std::string& file) {
  std::vector<bench_variant> out;
  auto* node = root.get(key);
  if (!node)
    return out;
  auto* arr = node->as_array();
  if (!arr || !arr->is_array_of_tables())
    throw config_error(where(*node) + ": " + key + " must be [[" + key + "]] tables");
  std::set<std::string> names;
  for (const auto& e : *arr) {
    const auto& t = *e.as_table();
    bench_variant v;
    for (const auto& [k, n] : t) {
      std::string field = std::string(key) + "." + std::string(k.str());
      if (k == "name")
        read_value(n, field, v.name);
      else if (k == "about")
        read_value(n, field, v.about);
      else if (k == "set")
        read_value(n, field, v.set);
      else
        throw config_error(where(n) + ": unknown key '" + field + "' (known: name, about, set)");
    }
    if (v.name.empty() || v.name.find_first_of("/ ,") != std::string::npos)
      throw config_error(where(t) + ": every [[" + key + "]] needs a name without '/', ',' or spaces");
    if (!names.insert(v.name).second)
      throw config_error(where(t) + ": " + key + " '" + v.name + "' is named twice in " + file);
    for (const auto& kv : v.set)
      if (kv.find('=') == std::string::npos)
        throw config_error(where(t) + ": " + key + " '" + v.name + "': set entry '" + kv +
                           "' must be KEY=VALUE");
    out.push_back(std::move(v));
  }
  return out;
}

} // namespace

bench_suite load_suite(const std::string& name_or_path) {
  auto path = find_suite_file(name_or_path);
  bench_suite s;
  s.file = path;
  s.name = path.stem().string();
  std::string config;
  auto root = read_fields(read_config_text(path.string()), path.string(), {}, [&](auto&& f) {
    f("config", config);
    f("seeds", s.seeds);
    f("budget_s", s.budget_s);
    f("max_rounds", s.max_rounds);
    f("set", s.set);
    f("reference", s.reference);
    f("target_at", s.target_at);
    f("targets", s.targets);
    f("ours", s.ours);
  }, {"variant", "group"});
  auto fail = [&](const std::string& what) { throw config_error(path.string() + ": " + what); };
  if (config.empty())
    fail("config = \"...\" (the base config) is missing");
  s.config = path.parent_path() / config;
  if (!std::filesystem::is_regular_file(s.config))
    fail("config = \"" + config + "\": no such file " + s.config.string());
  if (!(s.budget_s > 0))
    fail("budget_s must be > 0 (the clock seconds every variant runs to)");
  if (s.seeds.empty())
    fail("seeds must list at least one seed");
  s.variants = read_entries(root, "variant", path.string());
  s.groups = read_entries(root, "group", path.string());
  if (s.variants.empty())
    fail("no [[variant]]");
  auto has = [&](const std::string& n) {
    return std::any_of(s.variants.begin(), s.variants.end(), [&](const auto& v) { return v.name == n; });
  };
  if (s.targets.empty()) {
    if (!has(s.reference))
      fail("reference = \"" + s.reference + "\" must name a [[variant]] (or give targets = [...])");
    for (double f : s.target_at)
      if (!(f > 0 && f <= 1))
        fail("target_at holds fractions of the budget in (0, 1]");
    if (s.target_at.empty())
      fail("target_at is empty (or give targets = [...])");
  }
  if (!s.ours.empty() && !has(s.ours))
    fail("ours = \"" + s.ours + "\" must name a [[variant]]");
  return s;
}

} // namespace fedq::app

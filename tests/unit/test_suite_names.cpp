// ctest learns each test's name from the test binaries, and CMake splits a
// name at ';' (its list separator): such a test is registered as two names
// that match nothing, and "passes" in 0 s without running. So no name may
// hold one.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

TEST_CASE("no test name holds a semicolon, which would make ctest skip it silently") {
  namespace fs = std::filesystem;
  static const std::regex name(R"re(TEST_CASE\("([^"]*)")re");
  size_t seen = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(FEDQ_SOURCE_DIR) / "tests")) {
    if (e.path().extension() != ".cpp")
      continue;
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, name))
        continue;
      ++seen;
      INFO(e.path().string() << ": " << m[1].str());
      CHECK(m[1].str().find(';') == std::string::npos);
    }
  }
  CHECK(seen > 100);
}

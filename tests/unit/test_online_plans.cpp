// `online`'s plans on fixed inputs, held against tests/data/online_plans.txt:
// what the policy planned before it was made faster (the file was written
// by this test with FEDQ_WRITE_GOLDEN=1 before the change). Any change of a
// rank, step count, format, prediction or deadline fails it.

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "scheduling/population.hpp"

using namespace fedq::scheduling;

namespace {

std::string plans_text(const std::string& label, policy_options o, uint32_t n, uint64_t seed, uint32_t rounds) {
  auto s = make_scenario(n, seed);
  auto p = make_policy(o, s.ctx);
  std::ostringstream out;
  char buf[256];
  for (uint32_t round = 0; round < rounds; ++round) {
    s.in.round = round;
    auto plan = p->plan(s.in);
    std::snprintf(buf, sizeof buf, "%s round %u deadline %.17g skipped %zu\n", label.c_str(), round,
                  plan.deadline_s, plan.skipped.size());
    out << buf;
    for (const auto& a : plan.clients) {
      std::snprintf(buf, sizeof buf, "  %u %u %u %s %.17g\n", a.client, a.rank, a.steps, a.bits.c_str(),
                    a.predicted_s);
      out << buf;
    }
    report(s, plan, round);
  }
  return out.str();
}

std::string all_plans() {
  std::string text;
  policy_options o;
  o.name = "online";
  text += plans_text("plain", o, 60, 1, 8);
  o.adapt_bits = true;
  text += plans_text("adapt_bits", o, 60, 2, 8);
  o.safety = 0;
  o.on_time_target = 0.9;
  text += plans_text("no-margin", o, 45, 3, 6);
  o.safety = 1;
  o.bandit = true;
  text += plans_text("bandit", o, 30, 4, 10);
  o.bandit = false;
  o.min_steps = 2;
  o.local_steps = 12;
  o.r_min = 1;
  o.r_max = 32;
  text += plans_text("wide", o, 90, 5, 6);
  o.adapt_bits = true;
  o.local_steps = 10;
  o.r_max = 16;
  text += plans_text("many", o, 500, 6, 4);
  return text;
}

} // namespace

TEST_CASE("online's plans are exactly those it made before it was made faster") {
  const std::string path = std::string(FEDQ_SOURCE_DIR) + "/tests/data/online_plans.txt";
  auto text = all_plans();
  if (std::getenv("FEDQ_WRITE_GOLDEN")) {
    std::ofstream(path) << text;
    WARN("wrote " << path);
    return;
  }
  std::ifstream in(path);
  REQUIRE(in);
  std::stringstream want;
  want << in.rdbuf();
  std::istringstream got_lines(text), want_lines(want.str());
  std::string got_line, want_line;
  size_t line = 0;
  while (std::getline(want_lines, want_line)) {
    ++line;
    REQUIRE(std::getline(got_lines, got_line));
    INFO("tests/data/online_plans.txt:" << line);
    REQUIRE(got_line == want_line);
  }
  CHECK_FALSE(std::getline(got_lines, got_line));
}

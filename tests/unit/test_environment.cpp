#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "scheduling/environment.hpp"

using namespace fedq::scheduling;

namespace {

std::string write_file(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path.string();
}

work_item work() { return work_item{8, 10, 512, 1'000'000, 1'000'000, "fp32"}; }

} // namespace

TEST_CASE("a static, always-online client takes its tier's nominal time times the compute jitter") {
  auto tiers = default_tiers(1, 1, 1);
  cost_options cost;
  environment env(tiers, {0, 1, 2}, cost, 5);
  for (uint32_t c = 0; c < 3; ++c) {
    auto t = env.time_task(c, 4, 100.0, work());
    CHECK(t.offline_s == 0);
    CHECK(t.transfer_s == Approx(transfer_seconds(tiers[c], work())));
    CHECK(t.compute_s == Approx(compute_seconds(cost, tiers[c], work()) *
                                jitter_factor(5, c, 4, tiers[c].jitter)));
  }
}

TEST_CASE("generated bandwidth patterns are deterministic and vary as their names say") {
  CHECK(bandwidth_multiplier("static", 1, 0, 50) == 1.0);
  double lo = 1e9, hi = 0;
  int drops = 0;
  for (int t = 0; t < 2000; ++t) {
    double w = bandwidth_multiplier("walking", 1, 3, t);
    CHECK(w == bandwidth_multiplier("walking", 1, 3, t));
    CHECK(w >= 0.5);
    CHECK(w <= 1.7);
    double v = bandwidth_multiplier("vehicle", 1, 3, t);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    drops += v == 0.05;
  }
  CHECK(hi / lo > 20);       // a vehicle swings far more than a walker
  CHECK(drops > 100);        // about 8 % of 2-second slots (2 samples each) are dead zones
  CHECK(drops < 240);
  CHECK(bandwidth_multiplier("walking", 1, 3, 10) != bandwidth_multiplier("walking", 1, 4, 10));
  CHECK_THROWS_WITH(bandwidth_multiplier("satellite", 1, 0, 0), Catch::Contains("static, walking, vehicle"));
}

TEST_CASE("a CSV bandwidth trace is replayed piecewise, each client from its own offset") {
  auto path = write_file("fedq_trace_ok.csv", "time_s,up_mbps,down_mbps\n0,10,20\n5,1,2\n");
  auto tr = read_bandwidth_trace(path);
  REQUIRE(tr.time_s.size() == 2);
  CHECK(tr.period_s == Approx(10));
  auto tiers = default_tiers(2, 0, 0);
  tiers[0].bandwidth = path;
  environment env(tiers, {0, 0}, cost_options{}, 1);
  int slow = 0;
  for (int t = 0; t < 100; ++t) {
    auto [up, down] = env.bandwidth(0, t + 0.5);
    CHECK(((up == 10 && down == 20) || (up == 1 && down == 2)));
    slow += up == 1;
  }
  CHECK(slow == 50); // half of every period
}

TEST_CASE("a malformed bandwidth trace is refused with its file and line") {
  CHECK_THROWS_WITH(read_bandwidth_trace(write_file("fedq_t1.csv", "t,up,down\n0,1,1\n")),
                    Catch::Contains("fedq_t1.csv:1") && Catch::Contains("time_s,up_mbps,down_mbps"));
  CHECK_THROWS_WITH(read_bandwidth_trace(write_file("fedq_t2.csv", "time_s,up_mbps,down_mbps\n0,1,1\n3,x,1\n")),
                    Catch::Contains("fedq_t2.csv:3") && Catch::Contains("up_mbps 'x'"));
  CHECK_THROWS_WITH(read_bandwidth_trace(write_file("fedq_t3.csv", "time_s,up_mbps,down_mbps\n0,1,1\n0,1,1\n")),
                    Catch::Contains("fedq_t3.csv:3") && Catch::Contains("increase"));
  CHECK_THROWS_WITH(read_bandwidth_trace(write_file("fedq_t4.csv", "time_s,up_mbps,down_mbps\n0,0,1\n")),
                    Catch::Contains("fedq_t4.csv:2") && Catch::Contains("> 0"));
  CHECK_THROWS_WITH(read_bandwidth_trace(write_file("fedq_t5.csv", "time_s,up_mbps,down_mbps\n0,nan,1\n")),
                    Catch::Contains("fedq_t5.csv:2") && Catch::Contains("up_mbps 'nan' is not a finite number"));
  CHECK_THROWS_WITH(read_bandwidth_trace(write_file("fedq_t6.csv", "time_s,up_mbps,down_mbps\n0,1,inf\n")),
                    Catch::Contains("fedq_t6.csv:2") && Catch::Contains("down_mbps 'inf'"));
  CHECK_THROWS_WITH(read_bandwidth_trace(write_file("fedq_t7.csv", "time_s,up_mbps,down_mbps\n0,1,1\n1e999,1,1\n")),
                    Catch::Contains("fedq_t7.csv:3") && Catch::Contains("time_s '1e999' is not a number"));
  CHECK_THROWS_WITH(read_bandwidth_trace("/nonexistent/trace.csv"), Catch::Contains("cannot open"));
}

TEST_CASE("offline periods pause a task, and a client comes back when its period ends") {
  auto tiers = default_tiers(1, 0, 0);
  tiers[0].online_s = 20;
  tiers[0].offline_s = 30;
  environment env(tiers, {0}, cost_options{}, 9);
  // Walk the timeline: online and offline alternate, each seen at least once.
  int on = 0, off = 0;
  for (double t = 0; t < 2000; t += 1) {
    bool o = env.online(0, t);
    (o ? on : off) += 1;
    double back = env.next_online(0, t);
    CHECK(back >= t);
    CHECK(env.online(0, back));
    CHECK((o == (back == t)));
  }
  CHECK(on > 400);
  CHECK(off > 600); // offline periods are longer on average
  // A task spanning an offline period is delayed by exactly the offline time it met.
  work_item long_task{8, 2000, 512, 0, 0, "fp32"};
  auto t = env.time_task(0, 0, 0.0, long_task);
  CHECK(t.offline_s > 0);
  double busy = t.compute_s + t.transfer_s;
  double online_time = 0;
  for (double x = 0; x < t.total_s(); x += 0.01)
    online_time += env.online(0, x) ? 0.01 : 0;
  CHECK(online_time == Approx(busy).margin(0.5));
}

TEST_CASE("an availability trace takes clients offline where it says 0, each from its own offset") {
  auto path = write_file("fedq_avail.csv", "time_s,online\n0,1\n60,0\n90,1\n");
  auto tiers = default_tiers(3, 0, 0);
  tiers[0].availability = path;
  environment env(tiers, {0, 0, 0}, cost_options{}, 4);
  CHECK(env.has_availability(0));
  for (uint32_t c = 0; c < 3; ++c) {
    int off = 0;
    for (double t = 0.5; t < 1350; t += 1) { // ten periods of 135 s
      off += !env.online(c, t);
      double back = env.next_online(c, t);
      CHECK(env.online(c, back));
    }
    CHECK(off == Approx(300).margin(2)); // 30 of every 135 s (the last row lasts the mean row, 45 s)
  }
  // Clients replay the trace from different offsets.
  bool differ = false;
  for (double t = 0.5; t < 120; t += 1)
    differ |= env.online(0, t) != env.online(1, t);
  CHECK(differ);
  CHECK_THROWS_WITH(read_availability_trace(write_file("fedq_avail_bad.csv", "time_s,online\n0,2\n")),
                    Catch::Contains("fedq_avail_bad.csv:2") && Catch::Contains("1 (online) or 0"));
}

TEST_CASE("an availability trace that never changes state: all 1 is always online, all 0 is refused") {
  auto tiers = default_tiers(2, 0, 0);
  tiers[0].availability = write_file("fedq_avail_ones.csv", "time_s,online\n0,1\n30,1\n60,1\n");
  environment env(tiers, {0, 0}, cost_options{}, 7);
  for (uint32_t c = 0; c < 2; ++c) {
    CHECK(env.online(c, 0.0));
    CHECK(env.online(c, 1e6));
    CHECK(env.next_online(c, 12345.0) == 12345.0);
    auto t = env.time_task(c, 0, 100.0, work());
    CHECK(t.offline_s == Approx(0.0).margin(1e-9));
    CHECK(t.total_s() > 0);
  }
  auto zeros = write_file("fedq_avail_zeros.csv", "time_s,online\n0,0\n30,0\n");
  CHECK_THROWS_WITH(read_availability_trace(zeros),
                    Catch::Contains("fedq_avail_zeros.csv") && Catch::Contains("every row is 0"));
}

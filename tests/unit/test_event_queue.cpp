#include <catch2/catch.hpp>

#include "scheduling/event_queue.hpp"

using fedq::scheduling::event_queue;

TEST_CASE("the virtual clock hands out events in time order and ties in push order") {
  event_queue<int> q;
  q.push(5.0, 1);
  q.push(1.5, 2);
  q.push(5.0, 3);
  q.push(0.25, 4);
  q.push(1.5, 5);
  std::vector<int> order;
  std::vector<double> times;
  while (!q.empty()) {
    auto e = q.pop();
    order.push_back(e.event);
    times.push_back(e.time);
  }
  CHECK(order == std::vector<int>{4, 2, 5, 1, 3});
  CHECK(times == std::vector<double>{0.25, 1.5, 1.5, 5.0, 5.0});
}

TEST_CASE("events pushed while draining still come out in time order") {
  event_queue<char> q;
  q.push(10.0, 'd');
  q.push(2.0, 'a');
  auto first = q.pop();
  REQUIRE(first.event == 'a');
  q.push(first.time + 3.0, 'b'); // at 5.0, before 'd'
  q.push(first.time + 20.0, 'e');
  CHECK(q.pop().event == 'b');
  CHECK(q.pop().event == 'd');
  CHECK(q.pop().event == 'e');
}

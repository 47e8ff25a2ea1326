#pragma once

#include <cstdint>
#include <queue>
#include <vector>

namespace fedq::scheduling {

/// Events ordered by virtual time; events at the same time come out in the
/// order they were pushed. This order is what makes a virtual-clock run
/// reproducible whatever the speed of the machine.
template <class Event>
class event_queue {
public:
  struct entry {
    double time;
    uint64_t seq;
    Event event;
  };

  void push(double time, Event e) { heap_.push(entry{time, next_seq_++, std::move(e)}); }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  const entry& top() const { return heap_.top(); }
  entry pop() {
    entry e = heap_.top();
    heap_.pop();
    return e;
  }

private:
  struct later {
    bool operator()(const entry& a, const entry& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };
  std::priority_queue<entry, std::vector<entry>, later> heap_;
  uint64_t next_seq_ = 0;
};

} // namespace fedq::scheduling

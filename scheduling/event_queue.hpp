#pragma once

#include <algorithm>
#include <cstdint>
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

  void push(double time, Event e) {
    heap_.push_back(entry{time, next_seq_++, std::move(e)});
    std::push_heap(heap_.begin(), heap_.end(), later{});
  }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  const entry& top() const { return heap_.front(); }
  entry pop() {
    std::pop_heap(heap_.begin(), heap_.end(), later{});
    entry e = std::move(heap_.back());
    heap_.pop_back();
    return e;
  }

  /// Everything queued (in no particular order) and the next sequence
  /// number: what a checkpoint keeps, and restore() takes back.
  const std::vector<entry>& entries() const { return heap_; }
  uint64_t next_seq() const { return next_seq_; }
  void restore(std::vector<entry> entries, uint64_t next_seq) {
    heap_ = std::move(entries);
    std::make_heap(heap_.begin(), heap_.end(), later{});
    next_seq_ = next_seq;
  }

private:
  struct later {
    bool operator()(const entry& a, const entry& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };
  std::vector<entry> heap_;  // a binary heap under `later`
  uint64_t next_seq_ = 0;
};

} // namespace fedq::scheduling

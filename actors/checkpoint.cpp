#include "actors/checkpoint.hpp"

#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include "serialization/bounded_input.hpp"

#include <cereal/types/map.hpp>
#include <cereal/types/utility.hpp>

#include "serialization/framing.hpp"

namespace fedq {

namespace data {
template <class A>
void serialize(A& ar, fairness& x) {
  ar(x.clients, x.mean, x.worst, x.p10, x.p50, x.stddev, x.jain);
}
} // namespace data

namespace scheduling {
template <class A>
void serialize(A& ar, telemetry& x) {
  ar(x.round, x.rank, x.steps, x.tokens_per_step, x.bytes_down, x.bytes_up, x.duration_s,
     x.compute_s, x.loss_before, x.loss_after, x.memory_mb, x.transfer_s, x.bits, x.trained_rank,
     x.val_loss, x.val_loss_cf);
}
template <class A>
void serialize(A& ar, task_timing& x) {
  ar(x.compute_s, x.transfer_s, x.offline_s);
}
template <class A>
void serialize(A& ar, client_view& x) {
  ar(x.id, x.tier, x.samples, x.has_telemetry, x.last);
}
template <class A>
void serialize(A& ar, round_feedback& x) {
  ar(x.valid, x.round, x.duration_s, x.on_time_fraction, x.mean_rank, x.loss, x.loss_prev,
     x.has_client_loss, x.client_loss, x.client_loss_prev, x.client_loss_cf);
}
template <class A>
void serialize(A& ar, plan_input& x) {
  ar(x.round, x.tokens_per_step, x.bytes_fixed, x.bytes_per_rank, x.clients, x.feedback);
}
} // namespace scheduling

namespace actors {

template <class A>
void serialize(A& ar, participant_record& x) {
  ar(x.client, x.tier, x.rank, x.steps, x.bits, x.predicted_s, x.duration_s, x.memory_mb,
     x.on_time, x.error, x.rejected, x.bytes_down, x.bytes_up, x.loss_before, x.loss_after,
     x.val_loss, x.val_loss_cf, x.staleness);
}
template <class A>
void serialize(A& ar, late_record& x) {
  ar(x.client, x.from_round, x.at_s, x.staleness, x.merged, x.weight, x.reason, x.failed, x.invalid);
}
template <class A>
void serialize(A& ar, round_record& x) {
  ar(x.round, x.t_start, x.t_close, x.deadline_s, x.deadline_met, x.all_on_time, x.version, x.participants,
     x.skipped, x.late, x.late_bytes_up, x.score, x.eval_loss, x.score_parts, x.client_scores,
     x.fairness, x.train_loss, x.decision_us, x.eval_ms, x.wall_s);
}
template <class A>
void serialize(A& ar, task_in_flight& x) {
  ar(x.round, x.base_version, x.rank, x.dispatched_at);
}
template <class A>
void serialize(A& ar, train_task& x) {
  ar(x.round, x.base_version, x.client, x.rank, x.steps, x.seed, x.bits, x.adapter, x.validate_rank);
}
template <class A>
void serialize(A& ar, queued_event& x) {
  ar(x.time, x.seq, x.kind, x.client, x.round);
}
template <class A>
void serialize(A& ar, server_checkpoint& x) {
  ar(x.config_hash, x.next_round, x.version, x.now, x.rng, x.wake_pending, x.idle_unplannable,
     x.finishing, x.global, x.records, x.between, x.last_tel, x.timing, x.peak_memory_mb, x.queue,
     x.queue_seq, x.tasks, x.answered, x.sent, x.plan_log, x.aggregator, x.pending);
}

namespace {

constexpr const char* magic = "FQCK";
constexpr uint16_t version = 3;  // 3: round_record's eval_ms

void write_durably(const std::filesystem::path& path, const blob& b) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    throw std::runtime_error(path.string() + ": cannot write the checkpoint");
  size_t done = 0;
  while (done < b.size()) {
    auto n = ::write(fd, b.data() + done, b.size() - done);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error(path.string() + ": cannot write the checkpoint (disk full?)");
    }
    done += size_t(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced)
    throw std::runtime_error(path.string() + ": cannot sync the checkpoint to disk");
}

void sync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

} // namespace

blob encode_checkpoint(const server_checkpoint& c) {
  std::ostringstream os;
  {
    cereal::PortableBinaryOutputArchive ar(os);
    ar(const_cast<server_checkpoint&>(c));
  }
  return serialization::frame(magic, version, os.str());
}

server_checkpoint decode_checkpoint(const blob& b, const std::string& what) {
  auto body = serialization::unframe(magic, version, b, what);
  server_checkpoint c;
  try {
    serialization::input_limit limit(body.size());
    std::istringstream is(body);
    cereal::PortableBinaryInputArchive ar(is);
    ar(c);
  } catch (const cereal::Exception& e) {
    throw serialization::format_error(what + ": malformed checkpoint body: " + e.what());
  } catch (const serialization::format_error& e) {
    throw serialization::format_error(what + ": malformed checkpoint body: " + e.what());
  }
  return c;
}

void write_checkpoint(const std::filesystem::path& dir, const server_checkpoint& c) {
  auto tmp = dir / "checkpoint.tmp", cur = dir / "checkpoint.bin", prev = dir / "checkpoint.prev.bin";
  write_durably(tmp, encode_checkpoint(c));
  std::error_code ec;
  if (std::filesystem::exists(cur))
    std::filesystem::rename(cur, prev, ec);  // keep the last good one
  std::filesystem::rename(tmp, cur);
  sync_dir(dir);
}

server_checkpoint read_checkpoint(const std::filesystem::path& dir, std::vector<std::string>& notes) {
  std::string reasons;
  for (const char* name : {"checkpoint.bin", "checkpoint.prev.bin"}) {
    auto path = dir / name;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      reasons += (reasons.empty() ? "" : "; ") + path.string() + ": missing";
      continue;
    }
    blob b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      auto c = decode_checkpoint(b, path.string());
      if (!reasons.empty())
        notes.push_back(reasons + "; resuming from " + path.string());
      return c;
    } catch (const serialization::format_error& e) {
      reasons += (reasons.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  throw std::runtime_error("no usable checkpoint in " + dir.string() + " (" + reasons + ")");
}

} // namespace actors

} // namespace fedq

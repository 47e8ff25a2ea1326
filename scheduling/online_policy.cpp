// fedq's scheduler: solver-free, O(N log N) per round.
//  1. Pacing: the deadline is at least the q-quantile of the clients'
//     predicted completion times at the mean-rank budget, later only where
//     that raises the on-time clients per second; q moves towards the
//     fraction of clients that should be on time (on_time_target), from what
//     arrived.
//  2. Per client, the largest rank (then the most steps, then the highest
//     precision) predicted to finish by the deadline with a margin of
//     `safety` standard deviations of its own observed speed and bandwidth,
//     within its memory; a client that cannot make it even at r_min and
//     min_steps trains anyway and is merged late.
//  3. The mean-rank budget follows the observed loss decrease per second:
//     it keeps moving in one direction while the rate improves, and turns
//     back when it drops; or, with `bandit`, a UCB1 bandit over rank arms
//     picks it, rewarded by that rate. Ranks over the budget are trimmed to a
//     water level, and the time a trimmed rank frees goes back to steps.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <stdexcept>

#include "scheduling/policies.hpp"

namespace fedq::scheduling {

namespace {

/// Sorts doubles ascending. Where all are non-negative (times are, unless a
/// speed ratio is), their bits order as unsigned integers as their values
/// do: an LSD radix sort of 8-bit digits that skips the digits every key
/// shares (mostly the exponent's). Linear, where std::sort's comparisons
/// were a quarter of a 10,000-client plan.
void sort_times(double* first, double* last, std::vector<uint64_t>& scratch) {
  size_t n = static_cast<size_t>(last - first);
  if (n < 256) {
    std::sort(first, last);
    return;
  }
  scratch.resize(2 * n);
  uint64_t* a = scratch.data();
  uint64_t* b = a + n;
  std::memcpy(a, first, n * sizeof(double));
  uint64_t signs = 0;
  for (size_t i = 0; i < n; ++i)
    signs |= a[i];
  if (signs >> 63) {
    std::sort(first, last);
    return;
  }
  for (int shift = 0; shift < 64; shift += 8) {
    size_t count[257] = {};
    for (size_t i = 0; i < n; ++i)
      ++count[(a[i] >> shift & 0xff) + 1];
    if (count[(a[0] >> shift & 0xff) + 1] == n)
      continue;  // every key has this digit: the order stays
    for (size_t d = 1; d < 257; ++d)
      count[d] += count[d - 1];
    for (size_t i = 0; i < n; ++i)
      b[count[a[i] >> shift & 0xff]++] = a[i];
    std::swap(a, b);
  }
  std::memcpy(first, a, n * sizeof(double));
}

struct choice {
  uint32_t rank = 0;
  uint32_t steps = 0;
  size_t bits = 0;  ///< index into the policy's formats
  bool on_time = false;
};

class online_policy : public policy {
public:
  online_policy(policy_options o, policy_context ctx)
    : o_(std::move(o)), est_(std::move(ctx), o_.ewma), q_(o_.on_time_target),
      r_bar_(std::clamp<double>(o_.r_init, o_.r_min, o_.r_max)) {
    if (o_.adapt_bits)
      bits_ = o_.bits_choices;
    else
      bits_ = {o_.bits};
    if (bits_.size() > 64)
      throw std::invalid_argument("online: at most 64 backbone formats to choose from");
    for (const auto& b : bits_)
      factors_.push_back(bits_factor(est_.context().cost, b));
    if (o_.bandit) { // four arms from r_min to r_max; the first is played first
      for (int k = 0; k < 4; ++k)
        arms_.push_back(std::round(o_.r_min + (o_.r_max - o_.r_min) * k / 3.0));
      arms_.erase(std::unique(arms_.begin(), arms_.end()), arms_.end());
      pulls_.assign(arms_.size(), 0);
      reward_sum_.assign(arms_.size(), 0);
      r_bar_ = arms_[0];
    }
  }

  round_plan plan(const plan_input& in) override {
    round_plan p{in.round, 0, {}, 0, {}};
    for (const auto& c : in.clients)
      est_.observe(c);
    adapt(in.feedback);
    if (o_.bandit)
      arm_of_round_[in.round] = arm_;
    // Per tier and format, the memory cap (it depends on nothing else).
    const auto& tiers = est_.context().tiers;
    caps_.assign(tiers.size() * bits_.size(), 0);
    for (uint32_t t = 0; t < tiers.size(); ++t)
      for (size_t b = 0; b < bits_.size(); ++b)
        caps_[t * bits_.size() + b] =
          memory_cap_rank(est_.context(), client_view{0, t, 0, false, {}}, bits_[b], o_.r_min, o_.r_max);

    tabulate(in);

    // 1. The deadline from the predicted times at the budget rank.
    auto budget_rank = static_cast<uint32_t>(std::lround(r_bar_));
    auto& used = used_;
    auto& timers = timers_;
    auto& base = base_;
    used.clear();
    timers.clear();
    base.clear();
    used.reserve(in.clients.size());
    timers.reserve(in.clients.size());
    base.reserve(in.clients.size());
    for (const auto& c : in.clients) {
      timer tm = timer_of(in, c);
      double best = std::numeric_limits<double>::infinity();
      for (size_t b = 0; b < bits_.size(); ++b) {
        uint32_t cap = tm.cap(b);
        if (cap > 0)
          best = std::min(best, tm(std::min(cap, budget_rank), o_.local_steps, b));
      }
      if (std::isinf(best)) {
        p.skipped.push_back(c.id);
        continue;
      }
      used.push_back(&c);
      timers.push_back(tm);
      base.push_back(best);
    }
    if (used.empty())
      return p;
    p.deadline_s = pace(base);

    // 2. Each client's largest plan that makes the deadline.
    auto& ch = choices_;
    ch.clear();
    ch.reserve(timers.size());
    for (const auto& tm : timers)
      ch.push_back(choose(tm, p.deadline_s));

    // 3. Trim on-time ranks to the budget's water level; a trimmed rank
    //    frees time, given back as steps.
    trim(ch, static_cast<uint64_t>(std::llround(r_bar_ * ch.size())));
    for (size_t i = 0; i < used.size(); ++i)
      if (ch[i].on_time)
        ch[i].steps = most_steps(timers[i], ch[i].rank, ch[i].bits, ch[i].steps, p.deadline_s);
    p.clients.reserve(used.size());
    for (size_t i = 0; i < used.size(); ++i) { // the prediction without margin, est_.predict(c, work_for(...))
      const auto& tm = timers[i];
      p.clients.push_back({used[i]->id, ch[i].rank, ch[i].steps,
                           tm.at(est_.speed_of(*used[i], 0), ch[i].rank, ch[i].steps, ch[i].bits),
                           bits_[ch[i].bits]});
    }
    return p;
  }

private:
  /// One client's predicted seconds at (rank, steps, format index), with
  /// the safety margin: duration_estimator::predict with the parts that do
  /// not depend on the plan computed once.
  struct timer {
    const online_policy* pol;
    const plan_input* in;
    const tier_profile* tier;
    duration_estimator::speed speed;
    const double* compute;  // the tier's block of the plan's table; null without one
    const double* data;     // the tier's row of data seconds
    const uint32_t* caps;   // the tier's memory cap by format
    double latency2;        // 2 * tier->latency_s
    double operator()(uint32_t rank, uint32_t steps, size_t b) const { return at(speed, rank, steps, b); }
    /// duration_estimator::predict's formula, term for term, with the
    /// client-independent terms from the plan's table where it has one.
    double at(duration_estimator::speed s, uint32_t rank, uint32_t steps, size_t b) const {
      if (compute && rank < pol->ranks_ && steps < pol->steps_)
        return compute[(rank * pol->bits_.size() + b) * pol->steps_ + steps] * s.compute + latency2 +
               data[rank] * s.transfer;
      return predicted(s, rank, steps, b);
    }
    [[gnu::noinline]] double predicted(duration_estimator::speed s, uint32_t rank, uint32_t steps, size_t b) const {
      uint64_t bytes = in->bytes_fixed + in->bytes_per_rank * rank;
      return pol->est_.predict(*tier, s, pol->factors_[b], rank, steps, in->tokens_per_step, bytes, bytes);
    }
    uint32_t cap(size_t b) const { return caps[b]; }
  };

  timer timer_of(const plan_input& in, const client_view& c) const {
    const auto& tier = est_.context().tiers.at(c.tier);
    size_t t = c.tier;
    return {this,
            &in,
            &tier,
            est_.speed_of(c, o_.safety),
            tabulated_ ? compute_.data() + t * ranks_ * bits_.size() * steps_ : nullptr,
            tabulated_ ? data_.data() + t * ranks_ : nullptr,
            caps_.data() + t * bits_.size(),
            2 * tier.latency_s};
  }

  /// The parts of a prediction that depend on the tier and the plan but not
  /// on the client (compute seconds by tier, rank, format and steps; data
  /// seconds by tier and rank), computed once per plan the same way
  /// predict() computes them, so that a prediction is bit for bit the same.
  /// Only where the table is not much larger than the work it saves.
  void tabulate(const plan_input& in) {
    const auto& tiers = est_.context().tiers;
    ranks_ = o_.r_max + 2;  // up to r_min + 1 > r_max when r_min == r_max
    steps_ = o_.local_steps + 1;
    size_t entries = tiers.size() * ranks_ * bits_.size() * steps_;
    tabulated_ = entries <= 4096 + 16 * in.clients.size();
    if (!tabulated_)
      return;
    compute_.resize(entries);
    data_.resize(tiers.size() * ranks_);
    const auto& cost = est_.context().cost;
    for (size_t t = 0; t < tiers.size(); ++t)
      for (uint32_t r = 0; r < ranks_; ++r) {
        uint64_t bytes = in.bytes_fixed + in.bytes_per_rank * r;
        data_[t * ranks_ + r] = data_seconds(tiers[t], bytes, bytes);
        for (size_t b = 0; b < bits_.size(); ++b)
          for (uint32_t st = 0; st < steps_; ++st)
            compute_[((t * ranks_ + r) * bits_.size() + b) * steps_ + st] =
              compute_seconds(cost, tiers[t], factors_[b], r, st, in.tokens_per_step);
      }
  }

  /// The deadline among the sorted predictions t_(k): at least the paced
  /// fraction q of clients, and beyond that the k that maximizes on-time
  /// clients per second, k / t_(k) (a later deadline must pay for itself).
  /// (Reorders t: only the order of the times that could win is needed. As
  /// k <= n, t_(k) beats k_min / t_(k_min) only below n t_(k_min) / k_min;
  /// the bound has a margin far above rounding, so the result is the one a
  /// full sort gives.)
  double pace(std::vector<double>& t) {
    size_t n = t.size();
    size_t k_min = std::clamp<size_t>(static_cast<size_t>(std::ceil(q_ * n - 1e-9)), 1, n);
    std::nth_element(t.begin(), t.begin() + (k_min - 1), t.end());
    double bound = t[k_min - 1] * (static_cast<double>(n) / k_min) * (1 + 1e-9);
    auto end = std::partition(t.begin() + k_min, t.end(), [bound](double x) { return x < bound; });
    sort_times(t.data() + k_min, t.data() + (end - t.begin()), sort_scratch_);
    size_t best = k_min, last = static_cast<size_t>(end - t.begin());
    double best_ratio = best / t[best - 1];
    for (size_t k = k_min + 1; k <= last; ++k)
      if (double ratio = k / t[k - 1]; ratio > best_ratio) {
        best = k;
        best_ratio = ratio;
      }
    return t[best - 1];
  }

  void adapt(const round_feedback& f) {
    if (!f.valid || (adapted_ && f.round == adapted_round_))
      return; // no round closed since the last plan (it fit no client): nothing new to learn
    adapted_ = true;
    adapted_round_ = f.round;
    q_ = std::clamp(q_ + 0.5 * (o_.on_time_target - f.on_time_fraction), 0.05, 1.0);
    if (f.duration_s <= 0 || f.round == 0)
      return;
    double rate = (f.loss_prev - f.loss) / f.duration_s;
    if (o_.bandit)
      return play_bandit(f.round, rate);
    if (have_rate_ && rate < last_rate_)
      dir_ = -dir_;
    r_bar_ = std::clamp<double>(r_bar_ + dir_ * o_.rank_step, o_.r_min, o_.r_max);
    last_rate_ = rate;
    have_rate_ = true;
  }

  /// UCB1 over `arms_`: the rate observed for the arm that round `round`
  /// played is its reward (scaled by the largest |rate| seen); every arm is
  /// played once, then the one with the best mean + sqrt(2 ln t / n).
  void play_bandit(uint32_t round, double rate) {
    auto it = arm_of_round_.find(round);
    if (it != arm_of_round_.end()) {
      scale_ = std::max(scale_, std::abs(rate));
      pulls_[it->second] += 1;
      reward_sum_[it->second] += rate;
      arm_of_round_.erase(it);
    }
    double t = 0;
    for (double n : pulls_)
      t += n;
    size_t best = 0;
    double best_score = -std::numeric_limits<double>::infinity();
    for (size_t a = 0; a < arms_.size(); ++a) {
      if (pulls_[a] == 0) { // play every arm once first
        best = a;
        break;
      }
      double mean = reward_sum_[a] / pulls_[a] / (scale_ > 0 ? scale_ : 1.0);
      double score = mean + std::sqrt(2.0 * std::log(std::max(1.0, t)) / pulls_[a]);
      if (score > best_score) {
        best_score = score;
        best = a;
      }
    }
    arm_ = best;
    r_bar_ = arms_[arm_];
  }

  /// The largest rank over the step counts (local_steps down to min_steps)
  /// and backbone formats that is predicted to make the deadline, then the
  /// most steps at that rank, then the highest precision; the quickest
  /// r_min plan when none does. (Rank first: on the quickstart it reached a
  /// higher final score than steps first at about the same time-to-target.)
  ///
  /// The result is the first (steps descending, format in order) whose
  /// largest fitting rank is the maximum, as the plain scan over every
  /// (steps, format) would have it (tests/data/online_plans.txt holds it).
  /// A time never falls with more steps, so a format's rank is largest at
  /// the fewest steps: that gives the maximum R directly, and the steps are
  /// then the most at which R still fits, found with one lookup per step
  /// count (a format that cannot reach R is not looked at again), as a time
  /// never falls with a larger rank either.
  choice choose(const timer& tm, double deadline) const {
    const uint32_t fewest = std::max(1u, std::min(o_.min_steps, o_.local_steps));
    if (tm.speed.compute < 0)  // a negative ratio would break monotonicity: scan all
      return scan(tm, deadline, fewest);
    uint32_t top = 0;           // the largest rank that fits anywhere
    uint64_t reaches = 0;       // bit b: format b fits `top` at the fewest steps
    for (size_t b = bits_.size(); b-- > 0;) {  // the cheapest format, with the largest cap, first
      if (tm.cap(b) < top || (top > 0 && tm(top, fewest, b) > deadline))
        continue;  // it cannot reach `top`
      uint32_t r = top > 0 && tm.cap(b) == top ? top : fit(tm, fewest, b, deadline);
      if (r > top) {
        top = r;
        reaches = 0;
      }
      if (r == top && r > 0)
        reaches |= uint64_t(1) << b;
    }
    if (top == 0)
      return quickest(tm);
    // top fits at a format's most steps, so fit() would reach it there; a
    // later format must fit at more steps than an earlier one to win
    choice best{top, 0, 0, true};
    for (size_t b = 0; b < bits_.size() && best.steps < o_.local_steps; ++b)
      if ((reaches >> b & 1) && (best.steps == 0 || tm(top, best.steps + 1, b) <= deadline)) {
        best.steps = most_steps(tm, top, b, std::max(fewest, best.steps + 1), deadline);
        best.bits = b;
      }
    return best;
  }

  /// The most steps in [lo, local_steps] at which (rank, format b) is
  /// predicted to make the deadline, `lo` when none above it does: what a
  /// scan down from local_steps finds first. A time never falls with more
  /// steps, so by bisection (where a negative speed ratio would break that,
  /// by the scan).
  uint32_t most_steps(const timer& tm, uint32_t rank, size_t b, uint32_t lo, double deadline) const {
    if (tm.speed.compute < 0) {
      for (uint32_t st = o_.local_steps; st > lo; --st)
        if (tm(rank, st, b) <= deadline)
          return st;
      return lo;
    }
    uint32_t hi = o_.local_steps;  // the answer lies in [lo, hi]
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo + 1) / 2;
      if (tm(rank, mid, b) <= deadline)
        lo = mid;
      else
        hi = mid - 1;
    }
    return lo;
  }

  /// The largest rank within format b's cap predicted to finish `steps` by
  /// the deadline (0 when r_min does not). Time is affine in rank: the cap
  /// first, else in closed form, then stepped to the exact boundary.
  uint32_t fit(const timer& tm, uint32_t steps, size_t b, double deadline) const {
    uint32_t cap = tm.cap(b);
    if (cap == 0)
      return 0;
    double at_min = tm(o_.r_min, steps, b);
    if (at_min > deadline)
      return 0;
    if (tm(cap, steps, b) <= deadline)
      return cap;
    double per_rank = tm(o_.r_min + 1, steps, b) - at_min;
    uint32_t r = o_.r_min;
    if (per_rank > 0)
      r = static_cast<uint32_t>(std::min<double>(cap - 1, o_.r_min + std::floor((deadline - at_min) / per_rank)));
    while (r > o_.r_min && tm(r, steps, b) > deadline)
      --r;
    while (r + 1 < cap && tm(r + 1, steps, b) <= deadline)
      ++r;
    return r;
  }

  /// The quickest r_min plan at local_steps, the first format on ties.
  choice quickest(const timer& tm) const {
    choice c;
    double t = std::numeric_limits<double>::infinity();
    for (size_t b = 0; b < bits_.size(); ++b)
      if (tm.cap(b) > 0) {
        double at_min = tm(o_.r_min, o_.local_steps, b);
        if (at_min < t) {
          t = at_min;
          c = {o_.r_min, o_.local_steps, b, false};
        }
      }
    return c;
  }

  /// choose() without the monotonicity it relies on: every (steps, format).
  choice scan(const timer& tm, double deadline, uint32_t fewest) const {
    choice best;
    for (uint32_t steps = o_.local_steps; steps >= fewest && steps > 0; --steps)
      for (size_t b = 0; b < bits_.size(); ++b) {
        uint32_t r = fit(tm, steps, b, deadline);
        if (r > best.rank)
          best = {r, steps, b, true};
      }
    return best.on_time ? best : quickest(tm);
  }

  /// Largest level L with sum_n max(r_min, min(r_n, L)) <= budget over the
  /// on-time plans; ranks above L come down to it.
  void trim(std::vector<choice>& ch, uint64_t budget) const {
    auto total = [&](uint32_t level) {
      uint64_t s = 0;
      for (const auto& c : ch)
        s += c.on_time ? std::max(o_.r_min, std::min(c.rank, level)) : c.rank;
      return s;
    };
    if (total(o_.r_max) <= budget)
      return;
    uint32_t lo = o_.r_min, hi = o_.r_max; // total(lo) may still exceed: then lo it is
    while (lo < hi) {
      uint32_t mid = (lo + hi + 1) / 2;
      if (total(mid) <= budget)
        lo = mid;
      else
        hi = mid - 1;
    }
    for (auto& c : ch)
      if (c.on_time)
        c.rank = std::max(o_.r_min, std::min(c.rank, lo));
  }

  policy_options o_;
  duration_estimator est_;
  std::vector<std::string> bits_;
  std::vector<double> factors_;  // cost factor of each of bits_
  std::vector<uint32_t> caps_;   // memory cap by (tier, format), for the plan being made
  bool tabulated_ = false;       // tabulate(): the plan's client-independent terms
  uint32_t ranks_ = 0, steps_ = 0;
  std::vector<double> compute_, data_;
  std::vector<const client_view*> used_;  // plan()'s scratch, kept to reuse its memory
  std::vector<timer> timers_;
  std::vector<double> base_;
  std::vector<choice> choices_;
  std::vector<uint64_t> sort_scratch_;  // pace()'s
  double q_;
  double r_bar_;
  double dir_ = -1;  // first move: try a smaller rank (shorter rounds)
  double last_rate_ = 0;
  bool have_rate_ = false;
  // bandit
  std::vector<double> arms_, pulls_, reward_sum_;
  size_t arm_ = 0;
  double scale_ = 0;
  std::map<uint32_t, size_t> arm_of_round_;  // round -> arm its plan played
  bool adapted_ = false;
  uint32_t adapted_round_ = 0;  // the closed round whose feedback was applied last
};

} // namespace

std::unique_ptr<policy> make_online_policy(const policy_options& o, policy_context ctx) {
  return std::make_unique<online_policy>(o, std::move(ctx));
}

} // namespace fedq::scheduling

#include "actors/evaluation.hpp"

#include "data/metrics.hpp"

namespace fedq::actors {

evaluation evaluate_global(const compute::backbone& bb, const serialization::adapter_payload& adapter,
                           const eval_sets& sets) {
  evaluation e;
  auto ev = compute::evaluate(bb, adapter, sets.global.items);
  auto ts = data::score_task(sets.metric, sets.global, ev.predictions);
  e.score = ts.score;
  e.parts = std::move(ts.parts);
  e.loss = ev.loss;
  for (const auto& local : sets.clients) {
    if (local.items.empty())
      continue;
    auto cv = compute::evaluate(bb, adapter, local.items);
    e.client_scores.push_back(data::client_score(local, cv.predictions));
  }
  e.fairness = data::summarize_fairness(e.client_scores);
  return e;
}

} // namespace fedq::actors

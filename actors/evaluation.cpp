#include "actors/evaluation.hpp"

#include "data/metrics.hpp"

namespace fedq::actors {

evaluation evaluate_global(const compute::backbone& bb, const serialization::adapter_payload& adapter,
                           const eval_sets& sets) {
  auto e = evaluate_dev(bb, adapter, sets);
  evaluate_clients(bb, adapter, sets, e);
  return e;
}

evaluation evaluate_dev(const compute::backbone& bb, const serialization::adapter_payload& adapter,
                        const eval_sets& sets) {
  evaluation e;
  auto ev = compute::evaluate(bb, adapter, sets.global.items);
  auto ts = data::score_task(sets.metric, sets.global, ev.predictions);
  e.score = ts.score;
  e.parts = std::move(ts.parts);
  e.loss = ev.loss;
  return e;
}

void evaluate_clients(const compute::backbone& bb, const serialization::adapter_payload& adapter,
                      const eval_sets& sets, evaluation& e) {
  e.client_scores.clear();
  for (const auto& local : sets.clients) {
    if (local.items.empty())
      continue;
    auto cv = compute::evaluate(bb, adapter, local.items);
    e.client_scores.push_back(data::client_score(local, cv.predictions));
  }
  e.fairness = data::summarize_fairness(e.client_scores);
}

} // namespace fedq::actors

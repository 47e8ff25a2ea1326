#include <chrono>
#include <cmath>
#include <stdexcept>

#include "compute/llama.hpp"
#include "compute/lm.hpp"

namespace fedq::compute {

namespace {

/// Trainable tensors, split into matrices (decayed) and vectors (not).
std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> parameters(const llama_weights& w) {
  std::vector<torch::Tensor> mats{w.embed}, vecs{w.norm};
  for (const auto& L : w.layers) {
    vecs.push_back(L.attn_norm);
    vecs.push_back(L.mlp_norm);
    for (const auto& p : L.proj) {
      mats.push_back(p.dense);
      if (p.bias.defined())
        vecs.push_back(p.bias);
    }
  }
  if (w.lm_head.dense.defined())
    mats.push_back(w.lm_head.dense);
  return {mats, vecs};
}

/// Rows of `len` tokens starting at `starts`.
torch::Tensor windows(const torch::Tensor& stream, const std::vector<int64_t>& starts, int64_t len) {
  std::vector<torch::Tensor> rows;
  for (auto s : starts)
    rows.push_back(stream.slice(0, s, s + len));
  return torch::stack(rows);
}

/// Mean next-token cross-entropy over every position of `ids` (B, T).
torch::Tensor lm_loss(const llama_weights& w, const torch::Tensor& ids) {
  auto mask = torch::ones_like(ids, torch::kBool);
  auto logits = llama_lm_logits(w, llama_hidden(w, nullptr, ids, mask));
  auto v = logits.size(-1);
  return torch::cross_entropy_loss(logits.slice(1, 0, -1).reshape({-1, v}),
                                   ids.slice(1, 1).reshape({-1}));
}

double holdout_loss(const llama_weights& w, const torch::Tensor& held, int64_t len, uint32_t max_windows,
                    uint32_t batch) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> starts;
  for (int64_t s = 0; s + len <= held.size(0) && starts.size() < max_windows; s += len)
    starts.push_back(s);
  double sum = 0;
  for (size_t i = 0; i < starts.size(); i += batch) {
    std::vector<int64_t> part(starts.begin() + std::ptrdiff_t(i),
                              starts.begin() + std::ptrdiff_t(std::min(starts.size(), i + batch)));
    sum += lm_loss(w, windows(held, part, len)).item<double>() * double(part.size());
  }
  return sum / double(starts.size());
}

} // namespace

pretrain_result pretrain(const llama_config& arch, const std::vector<token_source>& sources,
                         const pretrain_options& o, const std::string& out_dir,
                         const std::function<void(const pretrain_progress&)>& progress) {
  try {
    torch::set_num_threads(int(std::max<uint32_t>(1, o.threads)));
    auto len = int64_t(o.seq_len);
    if (sources.empty())
      throw std::runtime_error("no corpus source");
    pretrain_result r;
    std::vector<torch::Tensor> heads, tails;  // per source: trained head, held-out tail
    for (const auto& src : sources) {
      auto all = torch::tensor(std::vector<int64_t>(src.stream.begin(), src.stream.end()), torch::kInt64);
      auto n_hold = std::max<int64_t>(len, int64_t(double(all.size(0)) * o.holdout_fraction));
      if (all.size(0) - n_hold < len + 1)
        throw std::runtime_error("corpus source '" + src.name + "' has " + std::to_string(all.size(0)) +
                                 " tokens: too few for windows of " + std::to_string(len) + " and a held-out tail");
      heads.push_back(all.slice(0, 0, all.size(0) - n_hold));
      tails.push_back(all.slice(0, all.size(0) - n_hold));
      r.stream_tokens += uint64_t(all.size(0));
      r.holdout_tokens += uint64_t(n_hold);
    }
    auto train = torch::cat(heads);
    auto n_train = train.size(0);
    auto held_losses = [&](const llama_weights& w) {
      std::vector<double> out;
      for (const auto& t : tails)
        out.push_back(holdout_loss(w, t, len, o.eval_windows, o.batch_size));
      return out;
    };
    auto mean = [](const std::vector<double>& v) {
      double s = 0;
      for (double x : v)
        s += x;
      return s / double(v.size());
    };
    auto w = random_llama(arch, o.seed, weight_format::fp32, false, /*trainable=*/true);
    auto [mats, vecs] = parameters(w);
    std::vector<torch::optim::OptimizerParamGroup> groups{
      torch::optim::OptimizerParamGroup(mats, std::make_unique<torch::optim::AdamWOptions>(
                                                 torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay))),
      torch::optim::OptimizerParamGroup(vecs, std::make_unique<torch::optim::AdamWOptions>(
                                                 torch::optim::AdamWOptions(o.lr).weight_decay(0.0)))};
    torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(o.lr));
    auto gen = at::detail::createCPUGenerator(o.seed + 1);

    r.holdout_before_by_source = held_losses(w);
    r.holdout_before = mean(r.holdout_before_by_source);
    auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    uint32_t loss_n = 0;  // steps since the last report
    auto t_report = t0;
    for (uint32_t step = 1; step <= o.steps; ++step) {
      double lr = o.lr;
      if (step <= o.warmup_steps) {
        lr = o.lr * double(step) / double(std::max<uint32_t>(1, o.warmup_steps));
      } else {
        double p = double(step - o.warmup_steps) / double(std::max<uint32_t>(1, o.steps - o.warmup_steps));
        lr = o.lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * p)));
      }
      for (auto& g : opt.param_groups())
        static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      auto starts_t = torch::randint(0, n_train - len + 1, {int64_t(o.batch_size)}, gen, torch::kInt64);
      std::vector<int64_t> starts(starts_t.data_ptr<int64_t>(), starts_t.data_ptr<int64_t>() + starts_t.numel());
      opt.zero_grad();
      auto loss = lm_loss(w, windows(train, starts, len));
      loss.backward();
      torch::nn::utils::clip_grad_norm_(opt.param_groups()[0].params(), 1.0);
      torch::nn::utils::clip_grad_norm_(opt.param_groups()[1].params(), 1.0);
      opt.step();
      loss_sum += loss.item<double>();
      ++loss_n;
      r.tokens += uint64_t(o.batch_size) * uint64_t(len);
      if (step % std::max<uint32_t>(1, o.eval_every) == 0 || step == o.steps) {
        auto now = std::chrono::steady_clock::now();
        pretrain_progress p;
        p.step = step;
        p.train_loss = loss_sum / loss_n;
        p.holdout_losses = held_losses(w);
        p.holdout_loss = mean(p.holdout_losses);
        p.lr = lr;
        p.tokens_per_s = double(loss_n) * double(o.batch_size) * double(len) /
                         std::max(1e-9, std::chrono::duration<double>(now - t_report).count());
        r.holdout_after = p.holdout_loss;
        r.holdout_after_by_source = p.holdout_losses;
        if (progress)
          progress(p);
        loss_sum = 0;
        loss_n = 0;
        t_report = std::chrono::steady_clock::now();
      }
    }
    if (o.steps == 0) {
      r.holdout_after = r.holdout_before;
      r.holdout_after_by_source = r.holdout_before_by_source;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    save_llama(w, out_dir);
    return r;
  } catch (const c10::Error& e) {
    throw std::runtime_error(std::string("pretraining: libtorch: ") + e.what_without_backtrace());
  }
}

} // namespace fedq::compute

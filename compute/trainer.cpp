#include "compute/model_torch.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>

namespace fedq::compute {

namespace {

/// Every libtorch error leaves compute/ as a std::runtime_error with context.
template <class F>
auto guarded(const char* what, F&& f) {
  try {
    return f();
  } catch (const c10::Error& e) {
    throw std::runtime_error(std::string(what) + ": libtorch: " + e.what_without_backtrace());
  }
}

/// An optimizer over two parameter groups, the adapter's at `lr` and the
/// head's at `head_lr`, both with `o`'s other options.
template <class Optimizer, class Options>
std::unique_ptr<torch::optim::Optimizer> two_groups(std::vector<torch::Tensor> lora,
                                                    std::vector<torch::Tensor> head, const Options& o,
                                                    double lr, double head_lr) {
  auto group = [&](std::vector<torch::Tensor> ps, double group_lr) {
    auto go = std::make_unique<Options>(o);
    go->lr(group_lr);
    return torch::optim::OptimizerParamGroup(std::move(ps), std::move(go));
  };
  return std::make_unique<Optimizer>(
    std::vector<torch::optim::OptimizerParamGroup>{group(std::move(lora), lr), group(std::move(head), head_lr)},
    o);
}

double batch_loss(const backbone::impl& bb, const adapter_tensors& ad, const token_batch& b) {
  torch::NoGradGuard no_grad;
  return task_loss(bb.opts, forward(bb, ad, b), b).item<double>();
}

/// Sum of squares of the tail components [floor(keep * r), r) of every A and B.
torch::Tensor tail_norm2(const adapter_tensors& ad, double keep) {
  auto total = torch::zeros({});
  for (size_t l = 0; l < ad.lora.a.size(); ++l)
    for (size_t m = 0; m < ad.lora.a[l].size(); ++m) {
      const auto& a = ad.lora.a[l][m]; // (r, d_in)
      if (!a.defined() || a.size(0) == 0)
        continue;
      int64_t r = a.size(0), k = static_cast<int64_t>(std::floor(keep * r));
      if (k >= r)
        continue;
      const auto& b = ad.lora.b[l][m]; // (d_out, r)
      total = total + a.slice(0, k, r).pow(2).sum() + b.slice(1, k, r).pow(2).sum();
    }
  return total;
}

} // namespace

int cuda_devices() { return torch::cuda::is_available() ? int(torch::cuda::device_count()) : 0; }

void use_threads(uint32_t n) {
  thread_local uint32_t current = 0;
  n = std::max<uint32_t>(1, n);
  if (current != n) {
    torch::set_num_threads(int(n));
    current = n;
  }
}

train_result train_local(const backbone& bb_handle, const adapter_payload& start,
                         const std::vector<data::example>& shard, const train_options& t,
                         uint32_t steps, uint64_t seed) {
  return guarded("local training", [&] {
    use_threads(t.threads);
    if (shard.empty())
      throw std::runtime_error("local training: the client has no examples");
    auto t0 = std::chrono::steady_clock::now();
    const auto& bb = bb_handle.get();
    auto ad = to_tensors(bb, start, /*trainable=*/true);
    std::vector<torch::Tensor> lora_params, head_params{ad.head_w, ad.head_b};
    for (size_t l = 0; l < ad.lora.a.size(); ++l)
      for (size_t m = 0; m < ad.lora.a[l].size(); ++m)
        if (ad.lora.a[l][m].defined() && ad.lora.a[l][m].size(0) > 0) {
          if (t.freeze_a) // FFA-LoRA
            ad.lora.a[l][m].requires_grad_(false);
          else
            lora_params.push_back(ad.lora.a[l][m]);
          lora_params.push_back(ad.lora.b[l][m]);
        }
    double head_lr = t.head_lr > 0 ? t.head_lr : t.lr;
    std::unique_ptr<torch::optim::Optimizer> opt;
    if (t.optimizer == "sgd")
      opt = two_groups<torch::optim::SGD>(
        lora_params, head_params,
        torch::optim::SGDOptions(t.lr).momentum(t.momentum).weight_decay(t.weight_decay), t.lr, head_lr);
    else if (t.optimizer == "adamw")
      opt = two_groups<torch::optim::AdamW>(lora_params, head_params,
                                            torch::optim::AdamWOptions(t.lr).weight_decay(t.weight_decay),
                                            t.lr, head_lr);
    else
      throw std::invalid_argument("unknown optimizer '" + t.optimizer + "' (known: adamw, sgd)");
    std::vector<torch::Tensor> trained = lora_params, anchor;  // FedProx: the start of every trained tensor
    trained.insert(trained.end(), head_params.begin(), head_params.end());
    if (t.prox_mu > 0)
      for (const auto& p : trained)
        anchor.push_back(p.detach().clone());
    torch::Tensor log_prior;  // (classes): the client's label frequencies, for logit adjustment
    if (t.logit_adjust > 0 && !bb.opts.regression) {
      std::vector<double> counts(bb.opts.classes, 1.0);
      for (const auto& e : shard)
        if (e.label >= 0 && uint32_t(e.label) < counts.size())
          counts[size_t(e.label)] += 1;
      double total = 0;
      for (double c : counts)
        total += c;
      std::vector<float> lp;
      for (double c : counts)
        lp.push_back(float(std::log(c / total)));
      log_prior = torch::tensor(lp);
    }
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<size_t> pick(0, shard.size() - 1);
    auto draw = [&] {
      std::vector<const data::example*> items;
      for (uint32_t i = 0; i < t.batch_size; ++i)
        items.push_back(&shard[pick(rng)]);
      return make_batch(items, bb);
    };
    auto probe = draw();
    train_result r;
    if (steps == 0)
      r.loss_before = batch_loss(bb, ad, probe);
    for (uint32_t s = 0; s < steps; ++s) {
      auto b = s == 0 ? probe : draw();
      opt->zero_grad();
      auto out = forward(bb, ad, b, t.checkpointing);
      if (s == 0) // the start's loss on the probe batch, from the first step's own forward
        r.loss_before = task_loss(bb.opts, out.detach(), b).item<double>();
      if (log_prior.defined())
        out = out + t.logit_adjust * log_prior;
      auto loss = task_loss(bb.opts, out, b);
      for (size_t i = 0; i < anchor.size(); ++i)
        loss = loss + 0.5 * t.prox_mu * (trained[i] - anchor[i]).pow(2).sum();
      if (t.prune_penalty > 0)
        loss = loss + t.prune_penalty * tail_norm2(ad, t.prune_keep);
      loss.backward();
      opt->step();
      r.tokens += static_cast<uint64_t>(b.mask.sum().item<int64_t>());
    }
    r.loss_after = batch_loss(bb, ad, probe);
    r.adapter = to_payload(bb, ad);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  });
}

eval_result evaluate(const backbone& bb_handle, const adapter_payload& adapter,
                     const std::vector<data::example>& items) {
  return guarded("evaluation", [&] {
    use_one_thread();
    const auto& bb = bb_handle.get();
    auto ad = to_tensors(bb, adapter, /*trainable=*/false);
    torch::NoGradGuard no_grad;
    eval_result r;
    if (items.empty())
      return r;
    // Batched in order of length, so that each batch is only as wide as its
    // longest example; predictions go back to the items' order.
    std::vector<encoded> tokens;
    tokens.reserve(items.size());
    for (const auto& e : items)
      tokens.push_back(encode(e, bb));
    std::vector<size_t> order(items.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return longest(tokens[x]) < longest(tokens[y]); });
    if (bb.opts.regression)
      r.predictions.scores.resize(items.size());
    else
      r.predictions.labels.resize(items.size());
    double loss = 0;
    constexpr size_t chunk = 128;
    for (size_t i = 0; i < order.size(); i += chunk) {
      std::vector<const data::example*> part;
      std::vector<encoded> part_tokens;
      size_t end = std::min(order.size(), i + chunk);
      for (size_t j = i; j < end; ++j) {
        part.push_back(&items[order[j]]);
        part_tokens.push_back(std::move(tokens[order[j]]));
      }
      auto b = make_batch(part, part_tokens, bb);
      auto out = forward(bb, ad, b);
      loss += task_loss(bb.opts, out, b, /*sum=*/true).item<double>();
      if (bb.opts.regression) {
        auto v = out.squeeze(1).to(torch::kFloat64).contiguous();
        for (size_t j = i; j < end; ++j)
          r.predictions.scores[order[j]] = v.data_ptr<double>()[j - i];
      } else {
        auto v = out.argmax(1).to(torch::kInt32).contiguous();
        for (size_t j = i; j < end; ++j)
          r.predictions.labels[order[j]] = v.data_ptr<int32_t>()[j - i];
      }
    }
    r.loss = loss / items.size();
    return r;
  });
}

} // namespace fedq::compute

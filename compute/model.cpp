#include "compute/model_torch.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "data/byte_tokenizer.hpp"

namespace fedq::compute {

namespace {

const char* const projections[] = {"q", "k", "v", "o"};

std::string pair_name(uint32_t layer, const char* proj) {
  return "layers." + std::to_string(layer) + ".attn." + proj;
}

bool is_target(const model_options& o, const char* proj) {
  return std::find(o.targets.begin(), o.targets.end(), proj) != o.targets.end();
}

std::vector<float> to_vector(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat32).contiguous().cpu();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

torch::Tensor from_vector(const std::vector<float>& v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat32).clone();
}

/// x (.., d_in) through the frozen W (d_out, d_in) plus, if present, the LoRA delta.
torch::Tensor project(const torch::Tensor& x, const torch::Tensor& w,
                      const adapter_tensors::pair* lora, double scale) {
  auto y = torch::matmul(x, w.t());
  if (lora && lora->a.size(0) > 0)
    y = y + scale * torch::matmul(torch::matmul(x, lora->a.t()), lora->b.t());
  return y;
}

} // namespace

backbone::backbone(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
backbone::~backbone() = default;
const model_options& backbone::options() const { return impl_->opts; }

std::shared_ptr<const backbone> backbone::create(const model_options& o) {
  if (o.d_model % o.heads != 0)
    throw std::invalid_argument("model.d_model must be a multiple of model.heads");
  if (o.classes == 0 || (o.regression && o.classes != 1))
    throw std::invalid_argument("model: a classification head needs classes >= 1, a regression "
                                "head exactly 1 output");
  for (const auto& t : o.targets)
    if (std::none_of(std::begin(projections), std::end(projections),
                     [&](const char* p) { return t == p; }))
      throw std::invalid_argument("model.targets: unknown module '" + t + "' (known: q, k, v, o)");
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(o.seed);
  auto d = static_cast<int64_t>(o.d_model);
  auto randn = [&](std::vector<int64_t> shape, double std) {
    return at::normal(0.0, std, shape, gen);
  };
  auto p = std::make_unique<impl>();
  p->opts = o;
  p->embed = randn({data::byte_vocab, d}, 1.0);
  p->pos = randn({o.max_len, d}, 0.1);
  for (uint32_t l = 0; l < o.layers; ++l) {
    impl::layer L;
    L.ln1_w = torch::ones({d});
    L.ln1_b = torch::zeros({d});
    L.wq = randn({d, d}, 1.0 / std::sqrt(d));
    L.wk = randn({d, d}, 1.0 / std::sqrt(d));
    L.wv = randn({d, d}, 1.0 / std::sqrt(d));
    L.wo = randn({d, d}, 1.0 / std::sqrt(d));
    L.ln2_w = torch::ones({d});
    L.ln2_b = torch::zeros({d});
    L.w1 = randn({o.ffn, d}, 1.0 / std::sqrt(d));
    L.b1 = torch::zeros({o.ffn});
    L.w2 = randn({d, o.ffn}, 1.0 / std::sqrt(o.ffn));
    L.b2 = torch::zeros({d});
    p->layers.push_back(std::move(L));
  }
  p->lnf_w = torch::ones({d});
  p->lnf_b = torch::zeros({d});
  return std::make_shared<const backbone>(std::move(p));
}

adapter_payload init_adapter(const model_options& o, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  adapter_payload p;
  auto d = static_cast<int64_t>(o.d_model), r = static_cast<int64_t>(o.r_max);
  for (uint32_t l = 0; l < o.layers; ++l)
    for (const char* proj : projections) {
      if (!is_target(o, proj))
        continue;
      // A like a kaiming-uniform linear layer; B zero, so the delta starts at 0.
      double bound = 1.0 / std::sqrt(static_cast<double>(d));
      auto a = at::rand({r, d}, gen) * (2 * bound) - bound;
      p.lora.push_back({pair_name(l, proj), o.d_model, o.d_model, o.r_max, to_vector(a),
                        std::vector<float>(size_t(d * r), 0.0f)});
    }
  auto head = at::normal(0.0, 0.02, {int64_t(o.classes), d}, gen);
  p.dense.push_back({"head.weight", {int64_t(o.classes), d}, to_vector(head)});
  p.dense.push_back({"head.bias", {int64_t(o.classes)}, std::vector<float>(o.classes, 0.0f)});
  return p;
}

payload_size adapter_size(const model_options& o) {
  uint64_t pairs = 0;
  for (const char* proj : projections)
    pairs += is_target(o, proj) ? o.layers : 0;
  payload_size s;
  s.per_rank = pairs * 2ull * o.d_model * sizeof(float);
  s.fixed = (uint64_t{o.classes} * o.d_model + o.classes) * sizeof(float) + 64 * (pairs + 2) + 32;
  return s;
}

double training_memory_mb(const model_options& o, uint32_t rank, uint32_t batch_size) {
  double d = o.d_model, T = o.max_len, B = batch_size;
  double frozen = o.layers * (4 * d * d + 2 * d * o.ffn) + data::byte_vocab * d;
  double trainable = static_cast<double>(adapter_size(o).per_rank) / 4 * rank + o.classes * d;
  double activations = B * T * o.layers * (10 * d + 2 * o.ffn) + B * o.heads * T * T * o.layers;
  return 4.0 * (frozen + 4 * trainable + activations) / (1024.0 * 1024.0);
}

std::vector<torch::Tensor> adapter_tensors::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : lora)
    if (p.a.defined() && p.a.size(0) > 0) {
      out.push_back(p.a);
      out.push_back(p.b);
    }
  out.push_back(head_w);
  out.push_back(head_b);
  return out;
}

adapter_tensors to_tensors(const backbone::impl& bb, const adapter_payload& p, bool trainable) {
  const auto& o = bb.opts;
  adapter_tensors t;
  size_t next = 0;
  for (uint32_t l = 0; l < o.layers; ++l)
    for (const char* proj : projections) {
      bool on = is_target(o, proj);
      t.targeted.push_back(on);
      if (!on) {
        t.lora.push_back({});
        continue;
      }
      std::string want = pair_name(l, proj);
      if (next >= p.lora.size() || p.lora[next].name != want || p.lora[next].d_in != o.d_model ||
          p.lora[next].d_out != o.d_model)
        throw std::runtime_error("adapter does not fit the model: expected LoRA pair '" + want +
                                 "' of " + std::to_string(o.d_model) + "x" +
                                 std::to_string(o.d_model));
      const auto& lp = p.lora[next++];
      int64_t r = lp.rank;
      t.lora.push_back({from_vector(lp.a, {r, int64_t(lp.d_in)}).requires_grad_(trainable),
                        from_vector(lp.b, {int64_t(lp.d_out), r}).requires_grad_(trainable)});
    }
  if (next != p.lora.size() || p.dense.size() != 2 || p.dense[0].name != "head.weight" ||
      p.dense[0].shape != std::vector<int64_t>{int64_t(o.classes), int64_t(o.d_model)})
    throw std::runtime_error("adapter does not fit the model (modules or head shape differ)");
  t.head_w = from_vector(p.dense[0].values, p.dense[0].shape).requires_grad_(trainable);
  t.head_b = from_vector(p.dense[1].values, p.dense[1].shape).requires_grad_(trainable);
  return t;
}

adapter_payload to_payload(const backbone::impl& bb, const adapter_tensors& t) {
  const auto& o = bb.opts;
  adapter_payload p;
  size_t i = 0;
  for (uint32_t l = 0; l < o.layers; ++l)
    for (const char* proj : projections) {
      const auto& pr = t.lora[i++];
      if (!pr.a.defined())
        continue;
      auto r = static_cast<uint32_t>(pr.a.size(0));
      p.lora.push_back({pair_name(l, proj), o.d_model, o.d_model, r, to_vector(pr.a),
                        to_vector(pr.b)});
    }
  p.dense.push_back({"head.weight", {int64_t(o.classes), int64_t(o.d_model)}, to_vector(t.head_w)});
  p.dense.push_back({"head.bias", {int64_t(o.classes)}, to_vector(t.head_b)});
  return p;
}

token_batch make_batch(const std::vector<const data::example*>& items, const model_options& o) {
  auto n = static_cast<int64_t>(items.size());
  auto ids = torch::zeros({n, int64_t(o.max_len)}, torch::kInt64);
  auto targets = torch::empty({n}, o.regression ? torch::kFloat32 : torch::kInt64);
  auto ids_a = ids.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    auto toks = data::byte_pair_tokens(items[i]->text, items[i]->text_b, o.max_len);
    if (toks.empty())
      toks.push_back(int32_t(' ') + 1); // an empty text still has one token to pool
    for (size_t j = 0; j < toks.size(); ++j)
      ids_a[i][int64_t(j)] = toks[j];
    if (o.regression)
      targets[i] = items[i]->score;
    else
      targets[i] = int64_t{items[i]->label};
  }
  return {ids, ids.ne(data::pad_token), targets};
}

torch::Tensor task_loss(const model_options& o, const torch::Tensor& out, const token_batch& b,
                        bool sum) {
  auto reduction = sum ? at::Reduction::Sum : at::Reduction::Mean;
  if (o.regression)
    return torch::mse_loss(out.squeeze(1), b.targets, reduction);
  return torch::cross_entropy_loss(out, b.targets, {}, reduction);
}

torch::Tensor forward(const backbone::impl& bb, const adapter_tensors& ad, const token_batch& batch) {
  const auto& o = bb.opts;
  const int64_t B = batch.ids.size(0), T = batch.ids.size(1), d = o.d_model, H = o.heads,
                dh = d / H;
  const double scale = o.lora_alpha / o.r_max;
  auto x = bb.embed.index_select(0, batch.ids.reshape({-1})).view({B, T, d}) +
           bb.pos.slice(0, 0, T);                                          // (B, T, d)
  // Additive attention bias: -inf on padding keys.
  auto key_bias = torch::zeros({B, 1, 1, T}).masked_fill(
    batch.mask.logical_not().view({B, 1, 1, T}), -1e9);                  // (B, 1, 1, T)
  for (uint32_t l = 0; l < o.layers; ++l) {
    const auto& L = bb.layers[l];
    auto lora = [&](int proj) -> const adapter_tensors::pair* {
      const auto& p = ad.lora[size_t(l) * 4 + proj];
      return p.a.defined() ? &p : nullptr;
    };
    auto h = torch::layer_norm(x, {d}, L.ln1_w, L.ln1_b);                   // (B, T, d)
    auto heads = [&](const torch::Tensor& y) { return y.view({B, T, H, dh}).transpose(1, 2); };
    auto q = heads(project(h, L.wq, lora(0), scale));                       // (B, H, T, dh)
    auto k = heads(project(h, L.wk, lora(1), scale));
    auto v = heads(project(h, L.wv, lora(2), scale));
    auto att = torch::softmax(torch::matmul(q, k.transpose(2, 3)) / std::sqrt(double(dh)) +
                                key_bias, -1);                              // (B, H, T, T)
    auto ctx = torch::matmul(att, v).transpose(1, 2).reshape({B, T, d});    // (B, T, d)
    x = x + project(ctx, L.wo, lora(3), scale);
    auto h2 = torch::layer_norm(x, {d}, L.ln2_w, L.ln2_b);
    x = x + torch::linear(torch::gelu(torch::linear(h2, L.w1, L.b1)), L.w2, L.b2);
  }
  x = torch::layer_norm(x, {d}, bb.lnf_w, bb.lnf_b);                         // (B, T, d)
  auto m = batch.mask.unsqueeze(-1).to(torch::kFloat32);                    // (B, T, 1)
  auto pooled = (x * m).sum(1) / m.sum(1).clamp_min(1.0);                   // (B, d)
  return torch::linear(pooled, ad.head_w, ad.head_b);                       // (B, classes)
}

} // namespace fedq::compute

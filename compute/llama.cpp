#include "compute/llama.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "serialization/safetensors.hpp"

namespace fedq::compute {

namespace {

namespace st = serialization;

torch::Tensor to_tensor(const st::st_tensor& t) {
  c10::ScalarType type;
  switch (t.dtype) {
  case st::st_dtype::F32: type = torch::kFloat32; break;
  case st::st_dtype::F16: type = torch::kFloat16; break;
  case st::st_dtype::BF16: type = torch::kBFloat16; break;
  case st::st_dtype::F64: type = torch::kFloat64; break;
  default:
    throw std::runtime_error("tensor '" + t.name + "': dtype " + st::st_dtype_name(t.dtype) +
                             " is not a float type (F32, F16, BF16)");
  }
  return torch::from_blob(const_cast<uint8_t*>(t.data), t.shape, type).to(torch::kFloat32).clone();
}

torch::Tensor take(st::checkpoint& ck, const std::string& name, std::vector<int64_t> shape) {
  auto t = to_tensor(ck.take(name));
  if (t.sizes() != c10::IntArrayRef(shape)) {
    std::string want, got;
    for (auto s : shape)
      want += (want.empty() ? "" : ", ") + std::to_string(s);
    for (auto s : t.sizes())
      got += (got.empty() ? "" : ", ") + std::to_string(s);
    throw std::runtime_error(ck.dir() + ": tensor '" + name + "' has shape (" + got +
                             "), the config needs (" + want + ")");
  }
  auto bad = (~torch::isfinite(t)).sum().item<int64_t>();
  if (bad > 0)
    throw std::runtime_error(ck.dir() + ": tensor '" + name + "' holds " + std::to_string(bad) +
                             " non-finite values (NaN or infinity): the checkpoint is damaged");
  return t;
}

} // namespace

std::array<int64_t, 2> llama_module_shape(const llama_config& c, int m) {
  int64_t h = c.hidden_size, q = int64_t(c.num_attention_heads) * c.head_dim,
          kv = int64_t(c.num_key_value_heads) * c.head_dim, f = c.intermediate_size;
  switch (m) {
  case 0: return {q, h};
  case 1:
  case 2: return {kv, h};
  case 3: return {h, q};
  case 4:
  case 5: return {f, h};
  default: return {h, f};
  }
}

namespace {

bool has_bias(const llama_config& c, int m) { return c.attention_bias && m < 3; }

torch::Tensor rotary_inv_freq(const llama_config& c) {
  auto d = static_cast<int64_t>(c.head_dim);
  auto inv = 1.0 / torch::pow(c.rope_theta, torch::arange(0, d, 2, torch::kFloat64) / double(d));
  if (c.rope_factor > 0) {  // llama3 scaling
    double old_len = c.rope_original_max_positions;
    double low_wavelen = old_len / c.rope_low_freq_factor;
    double high_wavelen = old_len / c.rope_high_freq_factor;
    auto wavelen = 2 * M_PI / inv;
    auto scaled = torch::where(wavelen > low_wavelen, inv / c.rope_factor, inv);
    auto smooth = (old_len / wavelen - c.rope_low_freq_factor) /
                  (c.rope_high_freq_factor - c.rope_low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / c.rope_factor + smooth * scaled;
    auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    inv = torch::where(medium, smoothed, scaled);
  }
  return inv.to(torch::kFloat32);
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  return w * (x * torch::rsqrt(x.pow(2).mean(-1, true) + eps));
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  auto half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

linear_weight make_linear(torch::Tensor w, torch::Tensor bias, weight_format f, bool dq,
                          bool trainable) {
  linear_weight l;
  l.out = w.size(0);
  l.in = w.size(1);
  l.bias = bias;
  if (trainable)
    l.dense = w.requires_grad_(true);
  else
    l.frozen = quantize(w, f, dq);
  return l;
}

} // namespace

std::string llama_hf_module(int m) {
  return (m < 4 ? "self_attn." : "mlp.") + std::string(llama_modules.at(size_t(m))) + "_proj";
}

torch::Tensor linear_weight::apply(const torch::Tensor& x) const {
  if (dense.defined())
    return torch::linear(x, dense, bias);
  return quant_linear(x, frozen, bias);
}

torch::Tensor linear_weight::weight() const {
  return dense.defined() ? dense.detach() : frozen.dequantize();
}

llama_weights load_llama(const std::string& dir, weight_format format, bool double_quant) {
  torch::NoGradGuard no_grad;
  llama_weights w;
  w.cfg = read_llama_config((std::filesystem::path(dir) / "config.json").string());
  w.format = format;
  const auto& c = w.cfg;
  st::checkpoint ck(dir);
  int64_t h = c.hidden_size;
  w.embed = take(ck, "model.embed_tokens.weight", {int64_t(c.vocab_size), h});
  for (uint32_t l = 0; l < c.num_hidden_layers; ++l) {
    auto pre = "model.layers." + std::to_string(l) + ".";
    llama_weights::layer L;
    L.attn_norm = take(ck, pre + "input_layernorm.weight", {h});
    L.mlp_norm = take(ck, pre + "post_attention_layernorm.weight", {h});
    for (int m = 0; m < 7; ++m) {
      auto shape = llama_module_shape(c, m);
      auto name = pre + llama_hf_module(m);
      auto wt = take(ck, name + ".weight", {shape[0], shape[1]});
      torch::Tensor bias;
      if (has_bias(c, m))
        bias = take(ck, name + ".bias", {shape[0]});
      L.proj[size_t(m)] = make_linear(wt, bias, format, double_quant, false);
    }
    w.layers.push_back(std::move(L));
  }
  w.norm = take(ck, "model.norm.weight", {h});
  if (!c.tie_word_embeddings)
    w.lm_head = make_linear(take(ck, "lm_head.weight", {int64_t(c.vocab_size), h}), {}, format,
                            double_quant, false);
  else if (ck.has("lm_head.weight"))
    ck.take("lm_head.weight");  // some tied checkpoints store the shared matrix twice
  auto unused = ck.unused();
  if (!unused.empty()) {
    std::string names;
    for (size_t i = 0; i < unused.size() && i < 5; ++i)
      names += (i ? ", " : "") + unused[i];
    throw std::runtime_error(dir + ": " + std::to_string(unused.size()) +
                             " checkpoint tensors are not part of this architecture (" + names +
                             (unused.size() > 5 ? ", ..." : "") + ")");
  }
  w.inv_freq = rotary_inv_freq(c);
  return w;
}

llama_weights random_llama(const llama_config& c, uint64_t seed, weight_format format,
                           bool double_quant, bool trainable) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  // Trainable: Hugging Face's init (std 0.02). Frozen: a random feature
  // extractor, so unit-variance embeddings and variance-preserving linears.
  auto randn = [&](std::vector<int64_t> shape) {
    double std = trainable ? 0.02 : shape.size() == 2 ? 1.0 / std::sqrt(double(shape[1])) : 1.0;
    return at::normal(0.0, std, shape, gen);
  };
  auto param = [&](torch::Tensor t) { return trainable ? t.requires_grad_(true) : t; };
  llama_weights w;
  w.cfg = c;
  w.format = format;
  int64_t h = c.hidden_size;
  w.embed = param(trainable ? randn({int64_t(c.vocab_size), h})
                            : at::normal(0.0, 1.0, {int64_t(c.vocab_size), h}, gen));
  for (uint32_t l = 0; l < c.num_hidden_layers; ++l) {
    llama_weights::layer L;
    L.attn_norm = param(torch::ones({h}));
    L.mlp_norm = param(torch::ones({h}));
    for (int m = 0; m < 7; ++m) {
      auto shape = llama_module_shape(c, m);
      torch::Tensor bias;
      if (has_bias(c, m))
        bias = param(torch::zeros({shape[0]}));
      L.proj[size_t(m)] = make_linear(randn({shape[0], shape[1]}), bias, format, double_quant,
                                      trainable);
    }
    w.layers.push_back(std::move(L));
  }
  w.norm = param(torch::ones({h}));
  if (!c.tie_word_embeddings)
    w.lm_head = make_linear(randn({int64_t(c.vocab_size), h}), {}, format, double_quant, trainable);
  w.inv_freq = rotary_inv_freq(c);
  return w;
}

void save_llama(const llama_weights& w, const std::string& dir) {
  torch::NoGradGuard no_grad;
  std::filesystem::create_directories(dir);
  std::vector<torch::Tensor> keep;  // owns the bytes until written
  std::vector<st::st_write> out;
  auto put = [&](const std::string& name, const torch::Tensor& t) {
    keep.push_back(t.detach().to(torch::kFloat32).contiguous());
    const auto& k = keep.back();
    out.push_back({name, st::st_dtype::F32, k.sizes().vec(), k.data_ptr(),
                   size_t(k.numel()) * sizeof(float)});
  };
  put("model.embed_tokens.weight", w.embed);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    auto pre = "model.layers." + std::to_string(l) + ".";
    const auto& L = w.layers[l];
    put(pre + "input_layernorm.weight", L.attn_norm);
    put(pre + "post_attention_layernorm.weight", L.mlp_norm);
    for (int m = 0; m < 7; ++m) {
      const auto& p = L.proj[size_t(m)];
      put(pre + llama_hf_module(m) + ".weight", p.weight());
      if (p.bias.defined())
        put(pre + llama_hf_module(m) + ".bias", p.bias);
    }
  }
  put("model.norm.weight", w.norm);
  if (!w.cfg.tie_word_embeddings)
    put("lm_head.weight", w.lm_head.weight());
  st::write_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), out,
                        {{"format", "pt"}});
  std::ofstream(std::filesystem::path(dir) / "config.json") << llama_config_json(w.cfg);
}

namespace {

/// What every decoder layer of one forward pass shares.
struct layer_shared {
  const llama_config* cfg;
  int64_t B, T;
  torch::Tensor cos, sin;  ///< rotary tables (T, head_dim)
  torch::Tensor bias;      ///< additive attention mask (B, 1, T, T)
  double lora_scale;
};

/// The tensors one decoder layer reads: its weights and its adapters
/// (undefined where a module is not targeted).
struct layer_args {
  llama_weights::layer w;
  std::array<torch::Tensor, 7> a, b;
};

torch::Tensor decoder_layer(const layer_shared& s, const layer_args& p, torch::Tensor x) {
  const auto& c = *s.cfg;
  const int64_t B = s.B, T = s.T, nh = c.num_attention_heads, nkv = c.num_key_value_heads,
                hd = c.head_dim;
  auto rope = [&](const torch::Tensor& t) { return t * s.cos + rotate_half(t) * s.sin; };
  auto lin = [&](int m, const torch::Tensor& in) {
    auto y = p.w.proj[size_t(m)].apply(in);
    if (p.a[size_t(m)].defined())
      y = y + s.lora_scale * torch::matmul(torch::matmul(in, p.a[size_t(m)].t()), p.b[size_t(m)].t());
    return y;
  };
  auto h = rms_norm(x, p.w.attn_norm, c.rms_norm_eps);
  auto q = rope(lin(0, h).view({B, T, nh, hd}).transpose(1, 2));   // (B, nh, T, hd)
  auto k = rope(lin(1, h).view({B, T, nkv, hd}).transpose(1, 2));  // (B, nkv, T, hd)
  auto v = lin(2, h).view({B, T, nkv, hd}).transpose(1, 2);
  if (nkv != nh) {
    k = k.repeat_interleave(nh / nkv, 1);
    v = v.repeat_interleave(nh / nkv, 1);
  }
  auto att = torch::softmax(torch::matmul(q, k.transpose(2, 3)) / std::sqrt(double(hd)) + s.bias, -1);
  auto ctx = torch::matmul(att, v).transpose(1, 2).reshape({B, T, nh * hd});
  x = x + lin(3, ctx);
  auto h2 = rms_norm(x, p.w.mlp_norm, c.rms_norm_eps);
  return x + lin(6, torch::silu(lin(4, h2)) * lin(5, h2));
}

/// Every tensor of `p` that requires grad (adapters; when pretraining, the
/// dense weights and norms too), in one fixed order.
std::vector<torch::Tensor*> trainable(layer_args& p) {
  std::vector<torch::Tensor*> out;
  auto add = [&](torch::Tensor& t) {
    if (t.defined() && t.requires_grad())
      out.push_back(&t);
  };
  add(p.w.attn_norm);
  add(p.w.mlp_norm);
  for (size_t m = 0; m < 7; ++m) {
    add(p.w.proj[m].dense);
    add(p.w.proj[m].bias);
    add(p.a[m]);
    add(p.b[m]);
  }
  return out;
}

struct layer_closure : torch::CustomClassHolder {
  layer_shared shared;
  layer_args args;
};

/// Activation checkpointing of one decoder layer: the forward pass keeps
/// only the layer's input; the backward pass runs the layer again with
/// grad on and differentiates that. The layer's trainable tensors are
/// inputs of the function, so that their gradients flow even where the
/// layer's input needs none (the first layer's, under a frozen embedding).
struct checkpointed_layer : torch::autograd::Function<checkpointed_layer> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               at::TensorList /*trainable, as held by the closure*/,
                               const c10::intrusive_ptr<layer_closure>& cl) {
    ctx->save_for_backward({x});
    ctx->saved_data["x_grad"] = x.requires_grad();
    ctx->saved_data["closure"] = c10::IValue::make_capsule(cl);
    return decoder_layer(cl->shared, cl->args, x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto cl = c10::static_intrusive_pointer_cast<layer_closure>(ctx->saved_data["closure"].toCapsule());
    bool x_grad = ctx->saved_data["x_grad"].toBool();
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(x_grad);
    layer_args args = cl->args;
    auto params = trainable(args);
    torch::autograd::variable_list wrt;
    if (x_grad)
      wrt.push_back(x);
    for (auto* t : params) {
      *t = t->detach().requires_grad_(true);
      wrt.push_back(*t);
    }
    torch::Tensor y;
    {
      torch::AutoGradMode on(true);
      y = decoder_layer(cl->shared, args, x);
    }
    auto g = torch::autograd::grad({y}, wrt, {grad[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                   /*allow_unused=*/true);
    torch::autograd::variable_list out;
    out.push_back(x_grad ? g[0] : torch::Tensor());
    out.insert(out.end(), g.begin() + (x_grad ? 1 : 0), g.end());
    out.emplace_back();  // the closure
    return out;
  }
};

} // namespace

torch::Tensor llama_hidden(const llama_weights& w, const lora_tensors* lora,
                           const torch::Tensor& ids, const torch::Tensor& mask, bool checkpoint) {
  const auto& c = w.cfg;
  const int64_t B = ids.size(0), T = ids.size(1);
  auto x = w.embed.index_select(0, ids.reshape({-1})).view({B, T, -1}).to(torch::kFloat32);
  auto pos = torch::arange(T, torch::kFloat32).to(ids.device());
  auto freqs = torch::outer(pos, w.inv_freq.to(ids.device()));     // (T, hd/2)
  auto emb = torch::cat({freqs, freqs}, -1);                        // (T, hd)
  // Additive mask: causal, and no attention to padding keys.
  auto causal = torch::ones({T, T}, torch::kBool).to(ids.device()).triu(1);
  auto blocked = causal.view({1, 1, T, T}).logical_or(mask.logical_not().view({B, 1, 1, T}));
  layer_shared s{&c, B, T, emb.cos(), emb.sin(),
                 torch::zeros({B, 1, T, T}, x.options()).masked_fill(blocked, -1e9),
                 lora ? lora->scale : 1.0};
  checkpoint = checkpoint && torch::GradMode::is_enabled();
  for (size_t l = 0; l < w.layers.size(); ++l) {
    auto cl = c10::make_intrusive<layer_closure>();
    cl->shared = s;
    cl->args.w = w.layers[l];
    if (lora) {
      cl->args.a = lora->a[l];
      cl->args.b = lora->b[l];
    }
    auto params = trainable(cl->args);
    if (!checkpoint || (params.empty() && !x.requires_grad())) {
      x = decoder_layer(cl->shared, cl->args, x);
      continue;
    }
    std::vector<torch::Tensor> held;
    for (auto* t : params)
      held.push_back(*t);
    x = checkpointed_layer::apply(x, at::TensorList(held), cl);
  }
  return rms_norm(x, w.norm, c.rms_norm_eps);
}

torch::Tensor llama_lm_logits(const llama_weights& w, const torch::Tensor& hidden) {
  if (w.cfg.tie_word_embeddings)
    return torch::matmul(hidden, w.embed.t());
  return w.lm_head.apply(hidden);
}

torch::Tensor last_token(const torch::Tensor& hidden, const torch::Tensor& mask) {
  auto last = (mask.sum(1) - 1).clamp_min(0).to(torch::kInt64);  // (B)
  auto idx = last.view({-1, 1, 1}).expand({hidden.size(0), 1, hidden.size(2)});
  return hidden.gather(1, idx).squeeze(1);
}

} // namespace fedq::compute

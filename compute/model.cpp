#include "compute/model_torch.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "data/byte_tokenizer.hpp"
#include "serialization/safetensors.hpp"

namespace fedq::compute {

namespace {

std::string pair_name(uint32_t layer, int m) {
  return "layers." + std::to_string(layer) + "." + llama_modules[size_t(m)];
}

/// The targeted module indices, in llama_modules order.
std::vector<int> target_modules(const model_options& o) {
  std::vector<int> out;
  for (int m = 0; m < int(llama_modules.size()); ++m)
    if (std::find(o.targets.begin(), o.targets.end(), llama_modules[size_t(m)]) != o.targets.end())
      out.push_back(m);
  return out;
}

std::vector<float> to_vector(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat32).contiguous().cpu();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

torch::Tensor from_vector(const std::vector<float>& v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat32).clone();
}

/// The checkpoint folder's tokenizer.json, or byte tokens where it has none
/// and its vocabulary is the byte vocabulary.
data::text_encoder checkpoint_encoder(const std::string& dir, const llama_config& c) {
  auto path = std::filesystem::path(dir) / "tokenizer.json";
  if (!std::filesystem::exists(path)) {
    if (c.vocab_size != data::byte_vocab)
      throw std::invalid_argument(dir + ": no tokenizer.json, and its vocabulary of " +
                                  std::to_string(c.vocab_size) + " tokens is not the byte vocabulary (" +
                                  std::to_string(data::byte_vocab) + ")");
    return data::text_encoder::bytes();
  }
  data::text_encoder e;
  e.bpe = std::make_shared<const data::bpe_tokenizer>(data::bpe_tokenizer::load(path.string()));
  if (e.bpe->vocab_size() > c.vocab_size)
    throw std::invalid_argument(path.string() + ": " + std::to_string(e.bpe->vocab_size()) +
                                " tokens, more than config.json's vocab_size " + std::to_string(c.vocab_size));
  e.sep = int32_t(c.eos_token_id >= 0 ? c.eos_token_id : e.bpe->token_id("<|endoftext|>").value_or(-1));
  e.pad = int32_t(c.pad_token_id >= 0 ? c.pad_token_id : 0);
  return e;
}

/// Throws std::runtime_error unless `p` holds exactly the LoRA pairs of
/// `o`'s targets over `c`'s layers, in order and with their shapes, and the head.
void check_fits(const model_options& o, const llama_config& c, const adapter_payload& p) {
  size_t next = 0;
  for (uint32_t l = 0; l < c.num_hidden_layers; ++l)
    for (int m : target_modules(o)) {
      auto [out, in] = llama_module_shape(c, m);
      std::string want = pair_name(l, m);
      if (next >= p.lora.size() || p.lora[next].name != want || p.lora[next].d_in != in ||
          p.lora[next].d_out != out)
        throw std::runtime_error("adapter does not fit the model: expected LoRA pair '" + want +
                                 "' of " + std::to_string(out) + "x" + std::to_string(in));
      ++next;
    }
  if (next != p.lora.size() || p.dense.size() != 2 || p.dense[0].name != "head.weight" ||
      p.dense[0].shape != std::vector<int64_t>{int64_t(o.classes), int64_t(head_inputs(o, c.hidden_size))})
    throw std::runtime_error("adapter does not fit the model (modules or head shape differ)");
}

} // namespace

llama_config model_config(const model_options& o) {
  if (!o.checkpoint.empty())
    return read_llama_config((std::filesystem::path(o.checkpoint) / "config.json").string());
  llama_config c;
  c.vocab_size = data::byte_vocab;
  c.hidden_size = o.d_model;
  c.intermediate_size = o.ffn;
  c.num_hidden_layers = o.layers;
  c.num_attention_heads = o.heads;
  c.num_key_value_heads = o.kv_heads;
  c.head_dim = o.heads ? o.d_model / o.heads : 0;
  c.max_position_embeddings = o.max_len;
  c.tie_word_embeddings = true;
  c.pad_token_id = data::pad_token;
  return c;
}

backbone::backbone(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
backbone::~backbone() = default;
const model_options& backbone::options() const { return impl_->opts; }

std::shared_ptr<const backbone> backbone::create(const model_options& o) {
  check_model_options(o);
  auto format = parse_weight_format(o.bits);
  auto p = std::make_unique<impl>();
  p->opts = o;
  p->encoder = data::text_encoder::bytes();
  if (o.checkpoint.empty()) {
    p->w = random_llama(model_config(o), o.seed, format, o.double_quant);
  } else {
    p->w = load_llama(o.checkpoint, format, o.double_quant);
    p->encoder = checkpoint_encoder(o.checkpoint, p->w.cfg);
  }
  return std::make_shared<const backbone>(std::move(p));
}

adapter_payload init_adapter(const model_options& o, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto c = model_config(o);
  auto gen = at::detail::createCPUGenerator(seed);
  adapter_payload p;
  auto r = static_cast<int64_t>(o.r_max);
  for (uint32_t l = 0; l < c.num_hidden_layers; ++l)
    for (int m : target_modules(o)) {
      auto [out, in] = llama_module_shape(c, m);
      // A like a kaiming-uniform linear layer; B zero, so the delta starts at 0.
      double bound = 1.0 / std::sqrt(static_cast<double>(in));
      auto a = at::rand({r, in}, gen) * (2 * bound) - bound;
      p.lora.push_back({pair_name(l, m), uint32_t(in), uint32_t(out), o.r_max, to_vector(a),
                        std::vector<float>(size_t(out * r), 0.0f)});
    }
  int64_t h = head_inputs(o, c.hidden_size);
  auto head = at::normal(0.0, 0.02, {int64_t(o.classes), h}, gen);
  p.dense.push_back({"head.weight", {int64_t(o.classes), h}, to_vector(head)});
  p.dense.push_back({"head.bias", {int64_t(o.classes)}, std::vector<float>(o.classes, 0.0f)});
  return p;
}

void write_peft_adapter(const model_options& o, const adapter_payload& adapter, const std::string& dir) {
  auto c = model_config(o);
  std::vector<serialization::st_write> tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
    tensors.push_back({name, serialization::st_dtype::F32, std::move(shape), v.data(), v.size() * sizeof(float)});
  };
  check_fits(o, c, adapter);
  auto mods = target_modules(o);
  size_t next = 0;
  for (uint32_t l = 0; l < c.num_hidden_layers; ++l)
    for (int m : mods) {
      const auto& p = adapter.lora[next++];
      auto base = "base_model.model.model.layers." + std::to_string(l) + "." + llama_hf_module(m);
      add(base + ".lora_A.weight", {int64_t(p.rank), int64_t(p.d_in)}, p.a);
      add(base + ".lora_B.weight", {int64_t(p.d_out), int64_t(p.rank)}, p.b);
    }
  add("base_model.model.score.weight", adapter.dense[0].shape, adapter.dense[0].values);
  add("base_model.model.score.bias", adapter.dense[1].shape, adapter.dense[1].values);
  std::filesystem::create_directories(dir);
  serialization::write_safetensors((std::filesystem::path(dir) / "adapter_model.safetensors").string(), tensors,
                                   {{"format", "pt"}, {"pooling", o.pooling}, {"pair", o.pair}});
  nlohmann::ordered_json targets = nlohmann::ordered_json::array();
  for (int m : mods) {
    auto hf = llama_hf_module(m);
    targets.push_back(hf.substr(hf.find('.') + 1));
  }
  nlohmann::ordered_json j = {
    {"peft_type", "LORA"}, {"task_type", "SEQ_CLS"}, {"base_model_name_or_path", o.checkpoint},
    {"r", adapter.rank()}, {"lora_alpha", o.lora_alpha * double(adapter.rank()) / double(o.r_max)},
    {"lora_dropout", 0.0}, {"target_modules", targets}, {"bias", "none"},
    {"modules_to_save", {"score"}}, {"fan_in_fan_out", false}, {"inference_mode", true},
    {"init_lora_weights", true}, {"use_rslora", false}};
  std::ofstream(std::filesystem::path(dir) / "adapter_config.json") << j.dump(2) << "\n";
}

payload_size adapter_size(const model_options& o) {
  auto c = model_config(o);
  payload_size s;
  uint64_t pairs = 0;
  for (int m : target_modules(o)) {
    auto [out, in] = llama_module_shape(c, m);
    s.per_rank += uint64_t(c.num_hidden_layers) * uint64_t(in + out) * sizeof(float);
    pairs += c.num_hidden_layers;
  }
  s.fixed = (uint64_t{o.classes} * head_inputs(o, c.hidden_size) + o.classes) * sizeof(float) + 64 * (pairs + 2) + 32;
  return s;
}

namespace {

constexpr double mib = 1024.0 * 1024.0;

double bytes_per_weight(const std::string& bits) {
  return bits == "nf4" ? 0.5 + 4.0 / 64 : bits == "int8" ? 1 : bits == "bf16" ? 2 : 4;
}

/// Weights of one layer's seven linears: all of them, and the largest one.
struct layer_linears {
  double total = 0, largest = 0;
};

layer_linears linears_of(const llama_config& c) {
  layer_linears l;
  for (int m = 0; m < 7; ++m) {
    auto [out, in] = llama_module_shape(c, m);
    l.total += double(out) * double(in);
    l.largest = std::max(l.largest, double(out) * double(in));
  }
  return l;
}

} // namespace

double frozen_memory_mb(const model_options& o) {
  auto c = model_config(o);
  return (c.num_hidden_layers * linears_of(c).total * bytes_per_weight(o.bits) + 4.0 * c.vocab_size * c.hidden_size) / mib;
}

double training_memory_mb(const model_options& o, uint32_t rank, uint32_t batch_size, bool checkpointing) {
  auto c = model_config(o);
  // A siamese pair is two sequences of up to max_len each.
  double h = c.hidden_size, T = o.max_len, B = batch_size * (o.pair == "siamese" ? 2.0 : 1.0),
         L = c.num_hidden_layers;
  auto sz = adapter_size(o);
  double trainable = double(sz.per_rank) * rank + double(sz.fixed);  // bytes
  // Floats a step's tensors hold per token: in each layer about 2 hidden-sized
  // and 5 FFN-sized tensors, a row of attention scores per head and each LoRA
  // pair's x A^T; outside the layers about 11 hidden-sized (embedding, norm,
  // pooling and the backward pass's transients). With checkpointing: each
  // layer's input, and one layer recomputed. Fitted to tensor peaks measured
  // at full length (tests/test_runtime.cpp; README, *Calibrating*).
  double n_targets = double(target_modules(o).size());
  double layer = B * T * (2.0 * h + 5.1 * c.intermediate_size + c.num_attention_heads * T + n_targets * rank);
  double outside = 11.0 * B * T * h;
  double activations = outside + (checkpointing ? B * T * h * L + layer : L * layer);
  double dequantized = o.bits == "fp32" ? 0 : 0.5 * linears_of(c).largest;  // backward's fp32 copy of a quantized weight
  return frozen_memory_mb(o) + (4 * trainable + 4.0 * (activations + dequantized)) / mib;
}

scheduling::memory_model training_memory_model(const model_options& o, uint32_t batch_size, bool checkpointing,
                                               const std::vector<std::string>& formats) {
  scheduling::memory_model m;
  for (const auto& bits : formats) {
    model_options f = o;
    f.bits = bits;
    m.base_mb[bits] = training_memory_mb(f, 0, batch_size, checkpointing);
    m.per_rank_mb = training_memory_mb(f, 1, batch_size, checkpointing) - m.base_mb[bits];
  }
  return m;
}

std::vector<torch::Tensor> adapter_tensors::parameters() const {
  std::vector<torch::Tensor> out;
  for (size_t l = 0; l < lora.a.size(); ++l)
    for (size_t m = 0; m < lora.a[l].size(); ++m)
      if (lora.a[l][m].defined() && lora.a[l][m].size(0) > 0) {
        out.push_back(lora.a[l][m]);
        out.push_back(lora.b[l][m]);
      }
  out.push_back(head_w);
  out.push_back(head_b);
  return out;
}

adapter_tensors to_tensors(const backbone::impl& bb, const adapter_payload& p, bool trainable) {
  const auto& o = bb.opts;
  const auto& c = bb.w.cfg;
  adapter_tensors t;
  t.lora.scale = o.lora_alpha / o.r_max;
  t.lora.a.resize(c.num_hidden_layers);
  t.lora.b.resize(c.num_hidden_layers);
  check_fits(o, c, p);
  size_t next = 0;
  for (uint32_t l = 0; l < c.num_hidden_layers; ++l)
    for (int m : target_modules(o)) {
      auto [out, in] = llama_module_shape(c, m);
      const auto& lp = p.lora[next++];
      int64_t r = lp.rank;
      t.lora.a[l][size_t(m)] = from_vector(lp.a, {r, in}).requires_grad_(trainable);
      t.lora.b[l][size_t(m)] = from_vector(lp.b, {out, r}).requires_grad_(trainable);
    }
  t.head_w = from_vector(p.dense[0].values, p.dense[0].shape).requires_grad_(trainable);
  t.head_b = from_vector(p.dense[1].values, p.dense[1].shape).requires_grad_(trainable);
  return t;
}

adapter_payload to_payload(const backbone::impl& bb, const adapter_tensors& t) {
  const auto& o = bb.opts;
  const auto& c = bb.w.cfg;
  adapter_payload p;
  for (uint32_t l = 0; l < c.num_hidden_layers; ++l)
    for (int m : target_modules(o)) {
      const auto& a = t.lora.a[l][size_t(m)];
      const auto& b = t.lora.b[l][size_t(m)];
      p.lora.push_back({pair_name(l, m), uint32_t(a.size(1)), uint32_t(b.size(0)),
                        uint32_t(a.size(0)), to_vector(a), to_vector(b)});
    }
  p.dense.push_back({"head.weight", {int64_t(o.classes), int64_t(head_inputs(o, c.hidden_size))},
                     to_vector(t.head_w)});
  p.dense.push_back({"head.bias", {int64_t(o.classes)}, to_vector(t.head_b)});
  return p;
}

encoded encode(const data::example& e, const backbone::impl& bb) {
  auto n = bb.opts.max_len;
  if (bb.opts.pair == "siamese")
    return {bb.encoder.encode_text(e.text, n), bb.encoder.encode_text(e.text_b, n)};
  return {bb.encoder.encode(e, n)};
}

size_t longest(const encoded& e) {
  size_t n = 0;
  for (const auto& row : e)
    n = std::max(n, row.size());
  return n;
}

token_batch make_batch(const std::vector<const data::example*>& items, const backbone::impl& bb) {
  std::vector<encoded> tokens;
  tokens.reserve(items.size());
  for (const auto* e : items)
    tokens.push_back(encode(*e, bb));
  return make_batch(items, tokens, bb);
}

token_batch make_batch(const std::vector<const data::example*>& items, const std::vector<encoded>& tokens,
                       const backbone::impl& bb) {
  const auto& o = bb.opts;
  auto n = static_cast<int64_t>(items.size());
  int64_t per = o.pair == "siamese" ? 2 : 1;  // rows per example: row k * n + i is item i's k-th sequence
  size_t width = 1;
  for (const auto& t : tokens)
    width = std::max(width, longest(t));
  // As wide as the batch's longest sequence: padding is trailing and attention
  // causal, so a real token's hidden state does not depend on the width.
  auto ids = torch::full({n * per, int64_t(width)}, int64_t(bb.encoder.pad), torch::kInt64);
  auto mask = torch::zeros({n * per, int64_t(width)}, torch::kBool);
  std::vector<float> scores;
  std::vector<int64_t> labels;
  auto ids_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<bool, 2>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < per; ++k) {
      const auto& toks = tokens[size_t(i)][size_t(k)];
      for (size_t j = 0; j < toks.size(); ++j) {
        ids_a[k * n + i][int64_t(j)] = toks[j];
        mask_a[k * n + i][int64_t(j)] = true;
      }
    }
    if (o.regression)
      scores.push_back(items[size_t(i)]->score);
    else
      labels.push_back(items[size_t(i)]->label);
  }
  auto targets = o.regression ? torch::tensor(scores, torch::kFloat32)
                              : torch::tensor(labels, torch::kInt64);
  return {ids, mask, targets};
}

torch::Tensor task_loss(const model_options& o, const torch::Tensor& out, const token_batch& b,
                        bool sum) {
  auto reduction = sum ? at::Reduction::Sum : at::Reduction::Mean;
  if (o.regression)
    return torch::mse_loss(out.squeeze(1), b.targets, reduction);
  return torch::cross_entropy_loss(out, b.targets, {}, reduction);
}

torch::Tensor forward(const backbone::impl& bb, const adapter_tensors& ad, const token_batch& batch,
                      bool checkpoint) {
  auto hidden = llama_hidden(bb.w, &ad.lora, batch.ids, batch.mask, checkpoint);  // (B, T, h)
  torch::Tensor pooled;
  if (bb.opts.pooling == "last") {
    pooled = last_token(hidden, batch.mask);                             // (B, h)
  } else {
    auto m = batch.mask.unsqueeze(-1).to(torch::kFloat32);               // (B, T, 1)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0);
  }
  if (bb.opts.pair == "siamese") { // rows [0, n) the first sentences, [n, 2n) the second
    auto n = batch.targets.size(0);
    auto u = pooled.slice(0, 0, n), v = pooled.slice(0, n, 2 * n);
    pooled = torch::cat({u, v, (u - v).abs(), u * v}, 1);              // (B, 4h)
  }
  return torch::linear(pooled, ad.head_w, ad.head_b);                    // (B, classes)
}

} // namespace fedq::compute

#include "data/bpe_tokenizer.hpp"

#include <algorithm>
#include <fstream>
#include <queue>
#include <sstream>

#include <nlohmann/json.hpp>

#include "data/dataset.hpp"

namespace fedq::data {

namespace {

using json = nlohmann::ordered_json;

/// GPT-2's printable spelling of each byte (bytes_to_unicode), UTF-8 encoded.
const std::array<std::string, 256>& byte_spellings() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      unsigned cp = printable(b) ? unsigned(b) : unsigned(256 + extra++);
      std::string s;
      if (cp < 0x80) {
        s += char(cp);
      } else {  // every code point here is below 0x800: two bytes
        s += char(0xC0 | (cp >> 6));
        s += char(0x80 | (cp & 0x3F));
      }
      t[size_t(b)] = s;
    }
    return t;
  }();
  return table;
}

enum class char_class { letter, digit, space, other };

char_class classify(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80)
    return char_class::letter;
  if (c >= '0' && c <= '9')
    return char_class::digit;
  if (c == ' ' || (c >= '\t' && c <= '\r'))
    return char_class::space;
  return char_class::other;
}

/// The GPT-2 pattern 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void split_gpt2(std::string_view t, std::vector<std::string_view>& out) {
  static const std::array<std::string_view, 7> contractions{"re", "ve", "ll", "s", "t", "m", "d"};
  size_t i = 0, n = t.size();
  auto cls = [&](size_t k) { return classify(static_cast<unsigned char>(t[k])); };
  while (i < n) {
    if (t[i] == '\'') {
      auto it = std::find_if(contractions.begin(), contractions.end(),
                             [&](std::string_view c) { return t.substr(i + 1, c.size()) == c; });
      if (it != contractions.end()) {
        out.push_back(t.substr(i, 1 + it->size()));
        i += 1 + it->size();
        continue;
      }
    }
    size_t j = i;
    if (t[i] == ' ' && i + 1 < n && cls(i + 1) != char_class::space)
      j = i + 1;  // the optional leading space
    auto c = cls(j);
    size_t k = j;
    while (k < n && cls(k) == c)
      ++k;
    if (c == char_class::space && k < n && k - i > 1)
      --k;  // \s+(?!\S): leave the last space to the next piece
    out.push_back(t.substr(i, k - i));
    i = k;
  }
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw data_error(source + ": " + what);
}

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

/// Replaces every (left, right) in `s`, left to right, by `id`.
void merge_pair(std::vector<int32_t>& s, int32_t left, int32_t right, int32_t id) {
  size_t w = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
      s[w++] = id;
      ++i;
    } else {
      s[w++] = s[i];
    }
  }
  s.resize(w);
}

} // namespace

std::vector<std::string_view> pre_tokenize(std::string_view text, bool individual_digits) {
  std::vector<std::string_view> out;
  if (!individual_digits) {
    split_gpt2(text, out);
    return out;
  }
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i)
    if (classify(static_cast<unsigned char>(text[i])) == char_class::digit) {
      split_gpt2(text.substr(start, i - start), out);
      out.push_back(text.substr(i, 1));
      start = i + 1;
    }
  split_gpt2(text.substr(start), out);
  return out;
}

bpe_tokenizer bpe_tokenizer::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw data_error(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

bpe_tokenizer bpe_tokenizer::parse(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(source, std::string("not JSON: ") + e.what());
  }
  bpe_tokenizer t;
  try {
    const auto& model = j.at("model");
    if (model.value("type", std::string("BPE")) != "BPE")
      fail(source, "model.type '" + model.value("type", std::string()) + "' is not BPE");
    if (j.contains("normalizer") && !j["normalizer"].is_null())
      fail(source, "normalizer of type '" + j["normalizer"].value("type", std::string("?")) +
                     "' is not supported (byte-level tokenizers have none)");
    auto byte_level = [&](const json& p) {
      if (p.value("type", std::string()) != "ByteLevel")
        return false;
      if (!p.value("use_regex", true))
        fail(source, "pre_tokenizer ByteLevel with use_regex false (a custom Split pattern) is not supported");
      t.add_prefix_space_ = p.value("add_prefix_space", false);
      return true;
    };
    const auto& pre = j.at("pre_tokenizer");
    bool ok = !pre.is_null() && byte_level(pre);
    if (!ok && !pre.is_null() && pre.value("type", std::string()) == "Sequence") {
      const auto& seq = pre.at("pretokenizers");
      ok = seq.size() == 2 && seq[0].value("type", std::string()) == "Digits" &&
           seq[0].value("individual_digits", false) && byte_level(seq[1]);
      t.individual_digits_ = ok;
    }
    if (!ok)
      fail(source, "pre_tokenizer " + pre.dump() +
                     " is not supported (supported: ByteLevel, or Sequence [Digits individual, ByteLevel])");
    // An id must be an integer before it is read as one: a float such as
    // 1e51 converted to int64 is undefined behaviour (found by fuzzing).
    auto token_id = [&](const json& v, const std::string& where) -> int64_t {
      if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > (uint64_t(1) << 24)))
        fail(source, where + ": id " + v.dump() + " is not an integer in 0.." + std::to_string(1 << 24));
      return v.get<int64_t>();
    };
    for (const auto& [tok, id] : model.at("vocab").items()) {
      auto i = token_id(id, "model.vocab");
      if (i < 0 || i > (int64_t(1) << 24))
        fail(source, "model.vocab: id " + std::to_string(i) + " of '" + tok + "' is out of range");
      if (size_t(i) >= t.id_to_token_.size())
        t.id_to_token_.resize(size_t(i) + 1);
      t.id_to_token_[size_t(i)] = tok;
    }
    for (const auto& m : model.at("merges")) {
      if (m.is_string()) {
        auto s = m.get<std::string>();
        auto sp = s.find(' ');
        if (sp == std::string::npos)
          fail(source, "model.merges: '" + s + "' is not two tokens separated by a space");
        t.merges_.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else {
        t.merges_.emplace_back(m.at(0).get<std::string>(), m.at(1).get<std::string>());
      }
    }
    if (j.contains("added_tokens"))
      for (const auto& a : j["added_tokens"]) {
        auto id = token_id(a.at("id"), "added_tokens");
        if (id < 0 || id > (int64_t(1) << 24))
          fail(source, "added_tokens: id " + std::to_string(id) + " is out of range");
        if (size_t(id) >= t.id_to_token_.size())
          t.id_to_token_.resize(size_t(id) + 1);
        t.id_to_token_[size_t(id)] = a.at("content").get<std::string>();
        t.added_.emplace_back(a.at("content").get<std::string>(), int32_t(id));
      }
  } catch (const json::exception& e) {
    fail(source, std::string("unexpected layout: ") + e.what());
  }
  try {
    t.index();
  } catch (const std::invalid_argument& e) {
    fail(source, e.what());
  }
  return t;
}

void bpe_tokenizer::index() {
  token_to_id_.clear();
  for (size_t i = 0; i < id_to_token_.size(); ++i)
    if (!id_to_token_[i].empty())
      token_to_id_[id_to_token_[i]] = int32_t(i);
  const auto& spell = byte_spellings();
  for (size_t b = 0; b < 256; ++b) {
    auto it = token_to_id_.find(spell[b]);
    if (it == token_to_id_.end())
      throw std::invalid_argument("model.vocab has no token for byte " + std::to_string(b) +
                                  " ('" + spell[b] + "'): not a byte-level BPE");
    byte_id_[b] = it->second;
  }
  merge_of_.clear();
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto& [a, b] = merges_[r];
    auto ia = token_to_id_.find(a), ib = token_to_id_.find(b), im = token_to_id_.find(a + b);
    if (ia == token_to_id_.end() || ib == token_to_id_.end() || im == token_to_id_.end())
      throw std::invalid_argument("model.merges[" + std::to_string(r) + "]: '" + a + " " + b +
                                  "' uses or makes a token missing from model.vocab");
    merge_of_.emplace(pair_key(ia->second, ib->second), merge_to{uint32_t(r), im->second});
  }
  // Longest added token first, so that one containing another wins.
  std::sort(added_.begin(), added_.end(),
            [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
}

bool bpe_tokenizer::is_added(int32_t id) const {
  return std::any_of(added_.begin(), added_.end(), [&](const auto& a) { return a.second == id; });
}

std::optional<int32_t> bpe_tokenizer::token_id(const std::string& token) const {
  auto it = token_to_id_.find(token);
  if (it == token_to_id_.end())
    return std::nullopt;
  return it->second;
}

void bpe_tokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  std::vector<int32_t> s;
  s.reserve(piece.size());
  for (unsigned char c : piece)
    s.push_back(byte_id_[c]);
  while (s.size() > 1) {
    const merge_to* best = nullptr;
    int32_t left = 0, right = 0;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      auto it = merge_of_.find(pair_key(s[i], s[i + 1]));
      if (it != merge_of_.end() && (!best || it->second.rank < best->rank)) {
        best = &it->second;
        left = s[i];
        right = s[i + 1];
      }
    }
    if (!best)
      break;
    merge_pair(s, left, right, best->id);
  }
  out.insert(out.end(), s.begin(), s.end());
}

void bpe_tokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  std::string prefixed;
  if (add_prefix_space_ && !text.empty() && text[0] != ' ') {
    prefixed = " " + std::string(text);
    text = prefixed;
  }
  for (auto piece : pre_tokenize(text, individual_digits_))
    encode_piece(piece, out);
}

std::vector<int32_t> bpe_tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    auto hit = std::find_if(added_.begin(), added_.end(), [&](const auto& a) {
      return !a.first.empty() && text.substr(i, a.first.size()) == a.first;
    });
    if (hit == added_.end()) {
      ++i;
      continue;
    }
    encode_plain(text.substr(start, i - start), out);
    out.push_back(hit->second);
    i += hit->first.size();
    start = i;
  }
  encode_plain(text.substr(start), out);
  return out;
}

std::string bpe_tokenizer::decode(const std::vector<int32_t>& ids) const {
  static const std::unordered_map<std::string, char> byte_of = [] {
    std::unordered_map<std::string, char> m;
    const auto& spell = byte_spellings();
    for (size_t b = 0; b < 256; ++b)
      m[spell[b]] = char(b);
    return m;
  }();
  std::string out;
  for (auto id : ids) {
    if (id < 0 || size_t(id) >= id_to_token_.size())
      throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary");
    const auto& tok = id_to_token_[size_t(id)];
    if (is_added(id)) {
      out += tok;
      continue;
    }
    for (size_t i = 0; i < tok.size();) {  // one spelled byte is 1 or 2 UTF-8 bytes
      size_t len = (static_cast<unsigned char>(tok[i]) < 0x80) ? 1 : 2;
      auto it = byte_of.find(tok.substr(i, len));
      if (it == byte_of.end())
        throw std::runtime_error("token '" + tok + "' is not byte-level");
      out += it->second;
      i += len;
    }
  }
  return out;
}

std::string bpe_tokenizer::to_json() const {
  json added = json::array();
  auto by_id = added_;
  std::sort(by_id.begin(), by_id.end(), [](const auto& x, const auto& y) { return x.second < y.second; });
  for (const auto& [content, id] : by_id)
    added.push_back({{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space_},
                     {"trim_offsets", true}, {"use_regex", true}};
  json pre = byte_level;
  if (individual_digits_)
    pre = {{"type", "Sequence"},
           {"pretokenizers", json::array({{{"type", "Digits"}, {"individual_digits", true}}, byte_level})}};
  json vocab = json::object();
  for (size_t i = 0; i < id_to_token_.size(); ++i)
    if (!id_to_token_[i].empty() && !is_added(int32_t(i)))
      vocab[id_to_token_[i]] = i;
  json merges = json::array();
  for (const auto& [a, b] : merges_)
    merges.push_back(a + " " + b);
  json j = {{"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", added},
            {"normalizer", nullptr},
            {"pre_tokenizer", pre},
            {"post_processor", nullptr},
            {"decoder", byte_level},
            {"model",
             {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
              {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
              {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}}}};
  return j.dump(1);
}

bpe_tokenizer train_bpe(const std::vector<std::string_view>& texts, uint32_t vocab_size,
                        const std::vector<std::string>& specials) {
  bpe_tokenizer t;
  t.individual_digits_ = true;
  for (const auto& s : specials) {
    t.added_.emplace_back(s, int32_t(t.id_to_token_.size()));
    t.id_to_token_.push_back(s);
  }
  const auto& spell = byte_spellings();
  auto first_byte = int32_t(t.id_to_token_.size());
  for (const auto& s : spell)
    t.id_to_token_.push_back(s);
  if (vocab_size < t.id_to_token_.size())
    throw std::invalid_argument("vocab_size " + std::to_string(vocab_size) + " is below the " +
                                std::to_string(t.id_to_token_.size()) + " special and byte tokens");

  // Distinct pieces with their counts, each a sequence of symbols.
  std::unordered_map<std::string_view, uint64_t> counts;
  for (auto text : texts)
    for (auto piece : pre_tokenize(text, true))
      ++counts[piece];
  std::vector<std::pair<std::string_view, uint64_t>> distinct(counts.begin(), counts.end());
  std::sort(distinct.begin(), distinct.end());  // a fixed order, whatever the hash
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> freq;
  for (const auto& [piece, n] : distinct) {
    std::vector<int32_t> w;
    for (unsigned char c : piece)
      w.push_back(first_byte + c);
    words.push_back(std::move(w));
    freq.push_back(int64_t(n));
  }

  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where;
  std::vector<uint64_t> touched;  // pairs whose count changed in this merge
  auto count_pairs = [&](uint32_t w, int64_t sign) {  // adds (or removes) word w's pairs
    const auto& s = words[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      auto k = pair_key(s[i], s[i + 1]);
      pair_count[k] += sign * freq[w];
      if (sign > 0)
        where[k].push_back(w);
      touched.push_back(k);
    }
  };
  for (uint32_t w = 0; w < words.size(); ++w)
    count_pairs(w, +1);
  std::vector<uint64_t>().swap(touched);  // the initial counts need no tracking
  // Max-heap on (count, then the smaller key), entries refreshed lazily.
  using entry = std::pair<int64_t, uint64_t>;
  auto cmp = [](const entry& x, const entry& y) {
    return x.first != y.first ? x.first < y.first : x.second > y.second;
  };
  std::priority_queue<entry, std::vector<entry>, decltype(cmp)> heap(cmp);
  for (const auto& [k, c] : pair_count)
    heap.push({c, k});
  std::vector<uint32_t> stamp(words.size(), 0);
  std::unordered_map<std::string, int32_t> known;
  for (size_t i = 0; i < t.id_to_token_.size(); ++i)
    known.emplace(t.id_to_token_[i], int32_t(i));
  while (t.id_to_token_.size() < vocab_size && !heap.empty()) {
    auto [c, k] = heap.top();
    heap.pop();
    auto it = pair_count.find(k);
    if (it == pair_count.end() || it->second != c)
      continue;  // stale
    if (c < 2)
      break;  // a pair seen once teaches nothing
    auto left = int32_t(k >> 32), right = int32_t(k & 0xFFFFFFFFu);
    auto merged = t.id_to_token_[size_t(left)] + t.id_to_token_[size_t(right)];
    auto [known_it, fresh] = known.emplace(merged, int32_t(t.id_to_token_.size()));
    auto id = known_it->second;  // a spelling made before by another merge keeps its id
    if (fresh)
      t.id_to_token_.push_back(merged);
    t.merges_.emplace_back(t.id_to_token_[size_t(left)], t.id_to_token_[size_t(right)]);
    auto round = uint32_t(t.merges_.size());
    auto users = std::move(where[k]);
    where.erase(k);
    touched.clear();
    for (auto w : users) {
      if (stamp[w] == round)
        continue;
      stamp[w] = round;
      auto& s = words[w];
      auto is_pair = [&](int32_t x, int32_t y) { return x == left && y == right; };
      if (std::adjacent_find(s.begin(), s.end(), is_pair) == s.end())
        continue;  // a stale entry: an earlier merge took these symbols
      count_pairs(w, -1);
      merge_pair(s, left, right, id);
      count_pairs(w, +1);
    }
    pair_count.erase(k);
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (auto pk : touched) {
      auto pc = pair_count.find(pk);
      if (pc == pair_count.end())
        continue;
      if (pc->second <= 0)
        pair_count.erase(pc);
      else
        heap.push({pc->second, pk});
    }
  }
  t.index();
  return t;
}

} // namespace fedq::data

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "data/bpe_tokenizer.hpp"
#include "data/byte_tokenizer.hpp"
#include "data/dataset.hpp"

using namespace fedq::data;

namespace {

/// GPT-2's printable spelling of byte b (bytes_to_unicode), written out here
/// independently of the tokenizer.
std::string spelled(int b) {
  static std::vector<int> order = [] {
    std::vector<int> o;
    for (int c = 0; c < 256; ++c)
      if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255)))
        o.push_back(c);
    return o;
  }();
  bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  int cp = printable ? b : 256 + int(std::find(order.begin(), order.end(), b) - order.begin());
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

/// A tokenizer.json as SmolLM2 lays it out: <|endoftext|> is id 0, byte b is
/// id b + 1 (so "Ġ", the space, is 33), then six merges.
std::string tiny_tokenizer_json() {
  std::ostringstream v;
  for (int b = 0; b < 256; ++b) {
    std::string s = spelled(b);
    std::string esc;
    for (char c : s)
      esc += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    v << (b ? "," : "") << "\"" << esc << "\":" << b + 1;
  }
  v << R"(,"Ġt":257,"he":258,"Ġthe":259,"ll":260,"hell":261,"hello":262)";
  return R"({"version":"1.0","added_tokens":[{"id":0,"content":"<|endoftext|>","special":true}],
"normalizer":null,
"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},
  {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}]},
"model":{"type":"BPE","vocab":{)" +
         v.str() + R"(},"merges":["Ġ t","h e","Ġt he","l l","he ll","hell o"]}})";
}

std::vector<std::string> pieces(std::string_view text, bool digits) {
  auto p = pre_tokenize(text, digits);
  return {p.begin(), p.end()};
}

} // namespace

TEST_CASE("the GPT-2 pre-tokenizer splits as its regex does") {
  using v = std::vector<std::string>;
  CHECK(pieces("hello the world's 42", false) == v{"hello", " the", " world", "'s", " 42"});
  CHECK(pieces("hello the world's 42", true) == v{"hello", " the", " world", "'s", " ", "4", "2"});
  // \s+(?!\S) leaves the last space of a run to the next word.
  CHECK(pieces("  hi  there\n", false) == v{" ", " hi", " ", " there", "\n"});
  CHECK(pieces("a\n\nb", false) == v{"a", "\n", "\n", "b"});
  CHECK(pieces("wait!'s it's ''", false) == v{"wait", "!'", "s", " it", "'s", " ''"});
}

TEST_CASE("a hand-checked tokenizer.json encodes and decodes as worked out by hand") {
  auto t = bpe_tokenizer::parse(tiny_tokenizer_json(), "tiny.json");
  CHECK(t.vocab_size() == 263);
  // hello: h e -> he, l l -> ll, he ll -> hell, hell o -> hello. " the": Ġ t, h e,
  // Ġt he. " world" has no merge: Ġ w o r l d are bytes + 1. Digits alone.
  std::vector<int32_t> want{262, 259, 33, 120, 112, 115, 109, 101, 40, 116, 33, 53, 51};
  CHECK(t.encode("hello the world's 42") == want);
  CHECK(t.decode(want) == "hello the world's 42");
  // An added token is matched literally; "the" without a space is t + he.
  CHECK(t.encode("hello<|endoftext|>the") == std::vector<int32_t>{262, 0, 117, 258});
  CHECK(t.token_id("<|endoftext|>") == 0);
  CHECK(t.token_id("Ġthe") == 259);
  // Any bytes survive a round trip, UTF-8 and control bytes included.
  std::string odd = "caf\xc3\xa9 \x01\xff\tz";
  CHECK(t.decode(t.encode(odd)) == odd);
  // Written out and read back, it encodes the same.
  auto again = bpe_tokenizer::parse(t.to_json(), "written.json");
  CHECK(again.encode("hello the world's 42") == want);
  CHECK(again.vocab_size() == 263);
}

TEST_CASE("bad tokenizer.json files are rejected with the file and the reason") {
  auto msg = [](const std::string& text) {
    try {
      bpe_tokenizer::parse(text, "bad.json");
    } catch (const data_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(msg("{not json"), Catch::StartsWith("bad.json: not JSON"));
  auto good = tiny_tokenizer_json();
  auto metaspace = good;
  metaspace.replace(metaspace.find("\"normalizer\":null"), 17, R"("normalizer":{"type":"NFC"})");
  CHECK_THAT(msg(metaspace), Catch::Contains("normalizer of type 'NFC' is not supported"));
  auto missing_merge = good;
  missing_merge.replace(missing_merge.find("\"hell o\""), 8, "\"hell q\"");
  CHECK_THAT(msg(missing_merge), Catch::Contains("model.merges[5]"));
  auto wordpiece = good;
  wordpiece.replace(wordpiece.find("\"type\":\"BPE\""), 12, "\"type\":\"WordPiece\"");
  CHECK_THAT(msg(wordpiece), Catch::Contains("is not BPE"));
  CHECK_THAT(msg(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"ByteLevel"}})"),
             Catch::Contains("no token for byte"));
  // Found by fuzzing: a float id was converted to an integer (undefined
  // behaviour for 1e51); ids must be integers.
  auto float_id = good;
  const std::string vocab_entry = "\"Ġt\":257";
  float_id.replace(float_id.find(vocab_entry), vocab_entry.size(), "\"Ġt\":1.8e51");
  CHECK_THAT(msg(float_id), Catch::Contains("model.vocab: id 1.8e+51 is not an integer"));
  CHECK_THAT(msg(R"({"model":{"type":"BPE","vocab":{},"merges":[]},"pre_tokenizer":{"type":"ByteLevel"},)"
                 R"("added_tokens":[{"id":2.5,"content":"x"}]})"),
             Catch::Contains("added_tokens: id 2.5 is not an integer"));
}

TEST_CASE("a trained BPE merges the most frequent pair first and round-trips text") {
  std::vector<std::string> corpus{"the cat sat on the mat", "the hat", "that is the thing 2024",
                                  "Thé café, naïve!\n\nNew line"};
  std::vector<std::string_view> views(corpus.begin(), corpus.end());
  auto t = train_bpe(views, 300, {"<|pad|>", "<|endoftext|>"});
  CHECK(t.token_id("<|pad|>") == 0);
  CHECK(t.token_id("<|endoftext|>") == 1);
  CHECK(t.token_id("a") == 2 + 'a');
  // "th" is in six words, "at" in five, then "th e" in four: counted by hand.
  CHECK(t.token_id("th") == 258);
  CHECK(t.token_id("at") == 259);
  CHECK(t.token_id("the") == 260);
  CHECK(t.encode(" the").size() == 1);
  CHECK(t.vocab_size() <= 300);
  for (const auto& s : corpus)
    CHECK(t.decode(t.encode(s)) == s);
  // Digits stay single tokens.
  CHECK(t.encode("2024").size() == 4);
  auto again = bpe_tokenizer::parse(t.to_json(), "trained.json");
  for (const auto& s : corpus)
    CHECK(again.encode(s) == t.encode(s));
  CHECK_THROWS_AS(train_bpe(views, 100, {}), std::invalid_argument);
}

TEST_CASE("join_pair cuts the longer list first and keeps one separator") {
  CHECK(join_pair({1, 2, 3, 4, 5}, 9, {6, 7}, 5) == std::vector<int32_t>{1, 2, 9, 6, 7});
  CHECK(join_pair({1, 2}, 9, {3, 4, 5, 6}, 5) == std::vector<int32_t>{1, 2, 9, 3, 4});
  CHECK(join_pair({1, 2, 3}, 9, {}, 2) == std::vector<int32_t>{1, 2});
}

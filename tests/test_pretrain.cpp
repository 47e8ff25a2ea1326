#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/config.hpp"
#include "app/logits_command.hpp"
#include "app/pretrain_command.hpp"
#include "compute/lm.hpp"
#include "compute/model.hpp"
#include "serialization/safetensors.hpp"

using namespace fedq;
namespace fs = std::filesystem;

namespace {

/// A corpus with structure to learn: templated sentences.
fs::path write_corpus(const fs::path& dir) {
  fs::create_directories(dir);
  auto path = dir / "corpus.txt";
  std::ofstream out(path);
  const char* who[] = {"the cat", "a dog", "my friend", "the old man", "her sister"};
  const char* did[] = {"sat on", "looked at", "walked to", "painted", "sold"};
  const char* what[] = {"the mat.", "a red house.", "the river.", "my car.", "the green door."};
  for (int i = 0; i < 600; ++i)
    out << who[i % 5] << " " << did[(i / 5) % 5] << " " << what[(i / 25) % 5] << "\n";
  return path;
}

std::string json_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

app::pretrain_args tiny_args(const fs::path& dir) {
  auto corpus = write_corpus(dir);
  auto config = dir / "pretrain.toml";
  std::ofstream(config) << "[corpus]\nsources = [\"" << corpus.string() << "\"]\n"
                        << "[tokenizer]\nvocab_size = 320\n"
                        << "[model]\nd_model = 32\nlayers = 1\nheads = 2\nkv_heads = 1\nffn = 64\n"
                        << "[train]\nsteps = 80\nbatch_size = 8\nseq_len = 32\nwarmup_steps = 10\n"
                        << "eval_every = 40\nlr = 0.01\nholdout_fraction = 0.05\n";
  app::pretrain_args a;
  a.config = config.string();
  a.out = (dir / "model").string();
  a.quiet = true;
  return a;
}

} // namespace

TEST_CASE("fedq pretrain learns a corpus and writes a checkpoint that fine-tunes with its tokenizer") {
  auto dir = fs::temp_directory_path() / "fedq_pretrain_test";
  fs::remove_all(dir);
  auto args = tiny_args(dir);
  REQUIRE(app::pretrain_command(args) == 0);
  fs::path model = args.out;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "pretrain.json", "pretrain.toml"})
    CHECK(fs::exists(model / f));
  auto summary = nlohmann::json::parse(json_text(model / "pretrain.json"));
  double before = summary["holdout_loss_before"], after = summary["holdout_loss_after"];
  INFO("held-out loss " << before << " -> " << after);
  CHECK(before > 5.0);           // about ln(320) at random init
  CHECK(after < before - 2.0);   // the templates are learned
  CHECK(summary["vocab_size"] == 320);

  // The checkpoint answers `fedq logits`, and a run's model tokenizes with its BPE.
  app::logits_args lg;
  lg.model = model.string();
  lg.text = "the cat sat";  // encoded with the folder's tokenizer.json
  CHECK(app::logits_command(lg) == 0);
  auto logits = compute::lm_logits(model.string(), {1, 5, 7});
  CHECK(logits.size() == 3);
  CHECK(logits[0].size() == 320);
  compute::model_options o;
  o.checkpoint = model.string();
  o.max_len = 16;
  auto bb = compute::backbone::create(o);
  std::vector<data::example> shard{{"the cat sat on the mat.", "", 1, 0}, {"a dog sold my car.", "", 0, 0},
                                   {"the old man painted the river.", "", 1, 0}, {"", "", 0, 0}};
  auto start = compute::init_adapter(o, 3);
  compute::train_options t;
  t.batch_size = 4;
  t.lr = 0.05;
  auto r = compute::train_local(*bb, start, shard, t, 15, 1);
  CHECK(r.loss_after < r.loss_before);
  CHECK(compute::evaluate(*bb, r.adapter, shard).predictions.labels.size() == 4);

  // Nothing is overwritten: a second run into the same folder is refused.
  CHECK(app::pretrain_command(args) == 2);
  fs::remove_all(dir);
}

TEST_CASE("pretrain configs are checked with the file, line and key") {
  auto dir = fs::temp_directory_path() / "fedq_pretrain_config_test";
  fs::create_directories(dir);
  auto cfg = dir / "bad.toml";
  std::ofstream(cfg) << "[train]\nsteps = 10\nstep = 5\n";
  CHECK_THROWS_WITH(app::load_pretrain_config(cfg.string(), {}),
                    Catch::Contains("bad.toml:3") && Catch::Contains("unknown key 'train.step'"));
  std::ofstream(cfg) << "[tokenizer]\nvocab_size = 100\n";
  CHECK_THROWS_WITH(app::load_pretrain_config(cfg.string(), {}), Catch::Contains("at least 258"));
  CHECK_THROWS_WITH(app::load_pretrain_config(cfg.string(), {"model.heads=3"}),
                    Catch::Contains("model.heads"));
  std::ofstream(cfg) << "[corpus]\nsources = [\"" << (dir / "missing.txt").string() << "\"]\n";
  app::pretrain_args a;
  a.config = cfg.string();
  a.out = (dir / "model").string();
  a.quiet = true;
  CHECK(app::pretrain_command(a) == 2);  // the missing corpus file is named on stderr
  CHECK_FALSE(fs::exists(dir / "model"));
  fs::remove_all(dir);
}

TEST_CASE("the final adapter is written in the Hugging Face PEFT layout") {
  compute::model_options o;
  o.targets = {"q", "v", "down"};
  o.r_max = 8;
  o.lora_alpha = 16;
  auto ad = compute::init_adapter(o, 5);
  ad.lora[1].b[3] = 0.25f;  // a non-zero B value to find again
  auto dir = fs::temp_directory_path() / "fedq_peft_test";
  fs::remove_all(dir);
  compute::write_peft_adapter(o, ad, dir.string());
  auto file = serialization::safetensors_file::open((dir / "adapter_model.safetensors").string());
  const auto& f = *file;
  CHECK(f.tensors().size() == size_t(o.layers) * 3 * 2 + 2);
  const auto& a0 = f.at("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  CHECK(a0.shape == std::vector<int64_t>{8, 64});
  CHECK(std::equal(ad.lora[0].a.begin(), ad.lora[0].a.end(), reinterpret_cast<const float*>(a0.data)));
  const auto& b1 = f.at("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight");
  CHECK(b1.shape == std::vector<int64_t>{32, 8});  // v: kv_heads * head_dim = 2 * 16
  CHECK(reinterpret_cast<const float*>(b1.data)[3] == 0.25f);
  CHECK(f.at("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight").shape ==
        std::vector<int64_t>{8, 128});
  CHECK(f.at("base_model.model.score.weight").shape == std::vector<int64_t>{2, 64});
  CHECK(f.metadata().at("pooling") == "mean");
  auto cfg = nlohmann::json::parse(json_text(dir / "adapter_config.json"));
  CHECK(cfg["peft_type"] == "LORA");
  CHECK(cfg["task_type"] == "SEQ_CLS");
  CHECK(cfg["r"] == 8);
  CHECK(cfg["lora_alpha"] == 16.0);
  CHECK(cfg["target_modules"] == nlohmann::json::array({"q_proj", "v_proj", "down_proj"}));
  CHECK(cfg["modules_to_save"] == nlohmann::json::array({"score"}));
  fs::remove_all(dir);
}

TEST_CASE("fedq pretrain holds out the tail of every source and reports each source's loss") {
  auto dir = fs::temp_directory_path() / "fedq_pretrain_sources_test";
  fs::remove_all(dir);
  auto args = tiny_args(dir);
  // A second source with other text: numbers in words.
  auto second = dir / "numbers.txt";
  {
    std::ofstream out(second);
    const char* n[] = {"one", "two", "three", "four", "five", "six"};
    for (int i = 0; i < 500; ++i)
      out << n[i % 6] << " and " << n[(i / 6) % 6] << " make " << n[(i / 36) % 6] << "\n";
  }
  args.overrides = {"corpus.sources=[\"" + (dir / "corpus.txt").string() + "\", \"" + second.string() + "\"]"};
  REQUIRE(app::pretrain_command(args) == 0);
  auto summary = nlohmann::json::parse(json_text(fs::path(args.out) / "pretrain.json"));
  const auto& held = summary.at("holdout_by_source");
  REQUIRE(held.size() == 2);
  for (const auto& [name, h] : held.items()) {
    INFO(name);
    CHECK(h.at("tokens").get<double>() > 0);
    CHECK(h.at("after").get<double>() < h.at("before").get<double>() - 1.0);  // each source is learned
  }
  double mean = (held[(dir / "corpus.txt").string()].at("after").get<double>() +
                 held[second.string()].at("after").get<double>()) / 2;
  CHECK(summary.at("holdout_loss_after").get<double>() == Approx(mean));
  fs::remove_all(dir);
}

// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/): one
// small valid input each, made with the project's own writers.
//   build-fuzz/fuzz_make_seeds fuzz/corpus
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "actors/checkpoint.hpp"
#include "compute/llama_config.hpp"
#include "data/bpe_tokenizer.hpp"
#include "serialization/adapter_payload.hpp"
#include "serialization/safetensors.hpp"

namespace fs = std::filesystem;
using namespace fedq;

namespace {

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds CORPUS_DIR\n";
    return 2;
  }
  fs::path out = argv[1];

  serialization::adapter_payload p;
  p.lora.push_back({"layers.0.attn.q", 3, 2, 2, {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, {1, 2, 3, 4}});
  p.dense.push_back({"head.weight", {2, 3}, {1, 0, -1, 0.5f, 0.25f, 2}});
  // The framed targets' first byte: 0 = the rest is a whole blob, 1 = the
  // rest is a body to frame (magic 4, version 2, size 8, body, CRC-32 4).
  auto both = [&](const std::string& target, const serialization::blob& b) {
    write(out / target / "framed", std::string(1, '\0') + std::string(b.begin(), b.end()));
    write(out / target / "body", std::string(1, '\1') + std::string(b.begin() + 14, b.end() - 4));
  };
  both("adapter_payload", serialization::encode(p));

  actors::server_checkpoint ck;
  ck.next_round = 2;
  ck.version = 2;
  ck.global = serialization::encode(p);
  actors::round_record rec;
  rec.round = 1;
  rec.participants.push_back({});
  rec.late.push_back({3, 0, 1.5, 1, true, 0.4, "", false, false});
  rec.score_parts = {{"accuracy", 0.5}};
  ck.records = {rec, rec};
  ck.tasks[3] = {1, 1, 4, 0.5};
  ck.sent[3].adapter = ck.global;
  ck.queue.push_back({2.5, 7, 0, 3, 1});
  ck.plan_log.push_back({});
  ck.plan_log.back().clients.push_back({3, 1, 40, true, {}});
  ck.aggregator = {0.1, 0.2};
  both("checkpoint", actors::encode_checkpoint(ck));

  float f32[6] = {1, 2, 3, 4, 5, 6};
  uint16_t bf16[2] = {0x3f80, 0x4000};
  auto st = fs::temp_directory_path() / "fedq_seed.safetensors";
  serialization::write_safetensors(st.string(),
                                   {{"a.weight", serialization::st_dtype::F32, {2, 3}, f32, sizeof f32},
                                    {"b.bias", serialization::st_dtype::BF16, {2}, bf16, sizeof bf16}},
                                   {{"format", "pt"}});
  fs::create_directories(out / "safetensors");
  fs::copy_file(st, out / "safetensors" / "seed", fs::copy_options::overwrite_existing);
  fs::remove(st);

  compute::llama_config c;
  c.rope_factor = 8;  // with rope_scaling, so the seed reaches its keys
  c.eos_token_id = 1;
  write(out / "llama_config" / "seed", compute::llama_config_json(c));

  std::vector<std::string_view> texts{"the movie was great", "the film was not great at all", "1234 stars"};
  write(out / "tokenizer" / "seed", data::train_bpe(texts, 280, {"<|endoftext|>"}).to_json());

  write(out / "trace" / "bandwidth", "time_s,up_mbps,down_mbps\n0,10,20\n5,1.5,2\n9,3,3\n");
  write(out / "trace" / "availability", "time_s,online\n0,1\n30,0\n45,1\n");

  write(out / "glue_tsv" / "sst2", "sentence\tlabel\nit 's a charming journey . \t1\na dull mess \t0\n");
  write(out / "glue_tsv" / "mrpc",
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe said so .\tHe said it .\n0\t3\t4\tA b .\tC d .\n");
  write(out / "glue_tsv" / "stsb",
        "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
        "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off.\tAn air plane is taking off.\t5.000\n");
  fs::create_directories(out / "config");
  fs::copy_file(fs::path(FEDQ_SOURCE_DIR) / "configs" / "quickstart.toml", out / "config" / "quickstart",
                fs::copy_options::overwrite_existing);
  write(out / "config" / "set", "--set scheduler.policy=fah\n[round]\nmode = \"sync\"\n[[tiers]]\n"
                                "name = \"gpu-fast\"\ncount = 2\n[[tiers]]\nname = \"cpu-slow\"\n"
                                "compute_factor = 0.1\nonline_s = 30.0\noffline_s = 10.0\n");
  std::cout << "seeds written under " << out << "\n";
}

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "data/byte_tokenizer.hpp"
#include "data/glue.hpp"
#include "data/partition.hpp"
#include "data/synthetic_task.hpp"

using namespace fedq::data;

namespace {

std::string glue_dir() { return std::string(FEDQ_SHARED_DATA) + "/glue"; }

/// A temporary file with `text`, removed at scope exit.
struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const std::string& name, const std::string& text)
    : path(std::filesystem::temp_directory_path() / name) {
    std::ofstream(path, std::ios::binary) << text;
  }
  ~temp_file() { std::filesystem::remove(path); }
};

std::vector<std::vector<uint32_t>> whole(const std::vector<client_shard>& s) {
  std::vector<std::vector<uint32_t>> out;
  for (const auto& c : s) {
    auto all = c.train;
    all.insert(all.end(), c.test.begin(), c.test.end());
    out.push_back(all);
  }
  return out;
}

/// Every example is in exactly one client's train or test list.
void check_complete(const dataset& d, const std::vector<client_shard>& s) {
  std::vector<int> seen(d.items.size(), 0);
  for (const auto& c : whole(s))
    for (auto i : c)
      ++seen.at(i);
  CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
}

double mean_entropy(const dataset& d, const std::vector<client_shard>& s) {
  double e = 0;
  for (const auto& h : strata_histogram(d, 5, whole(s)))
    e += entropy_bits(h);
  return e / s.size();
}

partition_options opts(partition_kind k, uint32_t clients, uint64_t seed = 42) {
  partition_options o;
  o.kind = k;
  o.clients = clients;
  o.seed = seed;
  o.min_samples = 10;
  return o;
}

} // namespace

TEST_CASE("the synthetic task is balanced over its four topics and reproducible") {
  auto a = make_synthetic(400, 3);
  auto b = make_synthetic(400, 3);
  REQUIRE(a.items.size() == 400);
  std::vector<int> counts(4, 0);
  for (size_t i = 0; i < a.items.size(); ++i) {
    CHECK(a.items[i].text == b.items[i].text);
    ++counts.at(static_cast<size_t>(a.items[i].label));
  }
  CHECK(counts == std::vector<int>{100, 100, 100, 100});
  CHECK(make_synthetic(400, 4).items[0].text != a.items[0].text);
}

TEST_CASE("a Dirichlet split at alpha 0.1 is reproducible and complete and visibly skewed") {
  auto d = make_synthetic(1200, 1);
  auto o = opts(partition_kind::dirichlet, 6);
  o.alpha = 0.1;
  auto s1 = partition(d, o);
  auto s2 = partition(d, o);
  REQUIRE(s1.size() == 6);
  for (size_t c = 0; c < 6; ++c) {
    CHECK(s1[c].train == s2[c].train);
    CHECK(s1[c].test == s2[c].test);
    CHECK(s1[c].train.size() + s1[c].test.size() >= 10);
  }
  check_complete(d, s1);
  o.seed = 43;
  CHECK(partition(d, o)[0].train != s1[0].train);
  // Four balanced labels: an unskewed client has 2 bits of label entropy.
  CHECK(mean_entropy(d, s1) < 1.2);
  CHECK(mean_entropy(d, partition(d, opts(partition_kind::iid, 6))) > 1.95);
}

TEST_CASE("a Dirichlet split of SST-2 at alpha 0.1 leaves clients with skewed labels") {
  if (!std::filesystem::exists(glue_dir() + "/SST-2/train.tsv")) {
    WARN("skipped: no GLUE data at " << glue_dir());
    return;
  }
  auto d = glue_task("sst2", glue_dir()).train;
  auto o = opts(partition_kind::dirichlet, 20);
  o.alpha = 0.1;
  auto s = partition(d, o);
  check_complete(d, s);
  // The whole set has 0.99 bits (44% / 56%); skewed clients have far less.
  CHECK(mean_entropy(d, s) < 0.6);
  CHECK(mean_entropy(d, partition(d, opts(partition_kind::iid, 20))) > 0.98);
}

TEST_CASE("a client-wise Dirichlet split gives many clients equal, skewed shards") {
  auto d = make_synthetic(1200, 1);
  auto o = opts(partition_kind::client_dirichlet, 100);
  o.alpha = 0.1;
  o.test_fraction = 0;
  auto s1 = partition(d, o);
  check_complete(d, s1);
  for (const auto& c : whole(s1))
    CHECK(c.size() == 12);
  CHECK(partition(d, o)[7].train == s1[7].train);
  // The per-label split cannot give 100 clients 10 examples each at this alpha.
  o.kind = partition_kind::dirichlet;
  CHECK_THROWS_WITH(partition(d, o), Catch::Contains("1000 draws"));
  o.kind = partition_kind::client_dirichlet;
  CHECK(mean_entropy(d, s1) < 1.0);
  o.alpha = 100;
  CHECK(mean_entropy(d, partition(d, o)) > 1.5);
}

TEST_CASE("the minimum per client is met by redrawing and an impossible one is reported") {
  auto d = make_synthetic(1200, 1);
  auto o = opts(partition_kind::dirichlet, 6);
  o.alpha = 0.3;
  o.min_samples = 100;
  auto s = partition(d, o);
  for (const auto& c : whole(s))
    CHECK(c.size() >= 100);
  check_complete(d, s);
  o.alpha = 0.1;
  o.clients = 10;  // 10 x 100 fits in 1200 examples, but no skewed draw gives it
  CHECK_THROWS_WITH(partition(d, o), Catch::Contains("1000 draws"));
  o.min_samples = 130;
  CHECK_THROWS_WITH(partition(d, o), Catch::Contains("at least 130"));
}

TEST_CASE("an IID split gives equal shards and holds out each client's test fraction") {
  auto d = make_synthetic(1003, 2);
  auto s = partition(d, opts(partition_kind::iid, 4));
  check_complete(d, s);
  for (const auto& c : s) {
    auto n = c.train.size() + c.test.size();
    CHECK((n == 250 || n == 251));
    CHECK(c.test.size() == n / 5);  // test_fraction 0.2, rounded down
  }
}

TEST_CASE("a label-shard split gives each client at most k labels and drops nothing") {
  auto d = make_synthetic(1200, 1);
  auto o = opts(partition_kind::shards, 8);
  o.labels_per_client = 1;
  auto s = partition(d, o);
  check_complete(d, s);
  for (const auto& h : strata_histogram(d, 5, whole(s)))
    CHECK(std::count_if(h.begin(), h.end(), [](uint32_t n) { return n > 0; }) == 1);
  o.labels_per_client = 2;
  for (const auto& h : strata_histogram(d, 5, whole(partition(d, o))))
    CHECK(std::count_if(h.begin(), h.end(), [](uint32_t n) { return n > 0; }) <= 2);
  o.clients = 3;  // 3 clients with one label each cannot cover four labels
  o.labels_per_client = 1;
  CHECK_THROWS_WITH(partition(d, o), Catch::Contains("every label"));
}

TEST_CASE("a quantity-skew split has power-law sizes above the minimum") {
  auto d = make_synthetic(4000, 1);
  auto o = opts(partition_kind::quantity, 20);
  o.power = 1.0;
  o.min_samples = 20;
  auto s = partition(d, o);
  check_complete(d, s);
  size_t lo = d.items.size(), hi = 0;
  for (const auto& c : whole(s)) {
    lo = std::min(lo, c.size());
    hi = std::max(hi, c.size());
  }
  CHECK(lo >= 20);
  CHECK(hi > 5 * lo);
}

TEST_CASE("regression examples are partitioned by equal-width score bins") {
  dataset d;
  d.kind = task_kind::regression;
  d.num_classes = 0;
  for (float s : {0.0f, 0.9f, 1.0f, 2.5f, 4.99f, 5.0f})
    d.items.push_back({"x", "y", 0, s});
  CHECK(strata(d, 5) == std::vector<uint32_t>{0, 0, 1, 2, 4, 4});
  CHECK(strata_count(d, 5) == 5);
}

TEST_CASE("parse_partition_kind names the accepted partitions") {
  CHECK(parse_partition_kind("shards") == partition_kind::shards);
  CHECK(parse_partition_kind("client-dirichlet") == partition_kind::client_dirichlet);
  CHECK_THROWS_WITH(parse_partition_kind("zipf"), Catch::Contains("iid, dirichlet, client-dirichlet, shards, quantity"));
}

TEST_CASE("each GLUE task present in the shared data loads with its official row counts") {
  int checked = 0;
  for (const auto& spec : glue_tasks()) {
    if (!std::filesystem::exists(glue_dir() + "/" + spec.folder + "/train.tsv"))
      continue;
    INFO("task " << spec.name);
    auto t = glue_task(spec.name, glue_dir());
    CHECK(t.train.items.size() == spec.train_rows);
    CHECK(t.eval.items.size() == spec.dev_rows);
    CHECK(t.metric == spec.metric);
    CHECK(t.train.kind == spec.kind);
    for (const auto& e : t.train.items) {
      REQUIRE(!e.text.empty());
      REQUIRE(e.text_b.empty() == spec.text_b.empty());
    }
    ++checked;
  }
  if (checked == 0)
    WARN("skipped: no GLUE data at " << glue_dir());
  else
    CHECK(checked >= 5);  // the shared data has SST-2, CoLA, MRPC, RTE, STS-B
}

TEST_CASE("GLUE quirks are read as GLUE means them") {
  if (!std::filesystem::exists(glue_dir() + "/CoLA/train.tsv")) {
    WARN("skipped: no GLUE data at " << glue_dir());
    return;
  }
  std::map<int32_t, int> cola;
  for (const auto& e : glue_task("cola", glue_dir()).train.items)
    ++cola[e.label];
  CHECK(cola[0] == 2528);  // headerless file: the first line is data
  CHECK(cola[1] == 6023);
  auto mrpc = glue_task("mrpc", glue_dir()).train;  // header starts with a UTF-8 BOM
  CHECK(std::count_if(mrpc.items.begin(), mrpc.items.end(), [](auto& e) { return e.label == 1; }) == 2474);
  auto rte = glue_task("rte", glue_dir()).train;  // string labels
  CHECK(std::count_if(rte.items.begin(), rte.items.end(), [](auto& e) { return e.label == 0; }) == 1249);
  auto stsb = glue_task("stsb", glue_dir()).eval;  // ten columns, float score last
  double sum = 0;
  for (const auto& e : stsb.items)
    sum += e.score;
  CHECK(sum / stsb.items.size() == Approx(2.364).margin(0.001));
  auto sst = glue_task("sst2", glue_dir()).eval;
  CHECK(sst.items[0].text.back() != ' ');  // the trailing space before the TAB is trimmed
}

TEST_CASE("a malformed GLUE file fails naming its line") {
  const auto& rte = glue_task_spec("rte");
  temp_file cols("fedq_bad_rte_cols.tsv",
                 "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tentailment\n");
  CHECK_THROWS_WITH(read_glue_tsv(rte, cols.path.string()),
                    Catch::Contains(":3:") && Catch::Contains("expected 4") && Catch::Contains("found 3"));
  temp_file label("fedq_bad_rte_label.tsv",
                  "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tcontradiction\n");
  CHECK_THROWS_WITH(read_glue_tsv(rte, label.path.string()),
                    Catch::Contains(":3:") && Catch::Contains("contradiction") &&
                      Catch::Contains("entailment, not_entailment"));
  temp_file score("fedq_bad_stsb.tsv", "i\tg\tf\ty\to\ts1\ts2\tsentence1\tsentence2\tscore\n"
                                       "0\tg\tf\t2012\t1\ts\ts\ta\tb\t3.5\n"
                                       "1\tg\tf\t2012\t1\ts\ts\ta\tb\tfive\n");
  CHECK_THROWS_WITH(read_glue_tsv(glue_task_spec("stsb"), score.path.string()),
                    Catch::Contains(":3:") && Catch::Contains("not a number"));
  temp_file wrong("fedq_bad_header.tsv", "text\tlabel\ngood\t1\n");
  CHECK_THROWS_WITH(read_glue_tsv(glue_task_spec("sst2"), wrong.path.string()),
                    Catch::Contains("no column 'sentence'"));
}

TEST_CASE("a BOM and CRLF line ends are accepted and a headerless CoLA row is data") {
  temp_file mrpc("fedq_bom_mrpc.tsv",
                 "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n1\t1\t2\tA cat .\tA cat !\r\n");
  auto d = read_glue_tsv(glue_task_spec("mrpc"), mrpc.path.string());
  REQUIRE(d.items.size() == 1);
  CHECK(d.items[0].label == 1);
  CHECK(d.items[0].text == "A cat .");
  CHECK(d.items[0].text_b == "A cat !");
  temp_file cola("fedq_cola.tsv", "gj04\t1\t\tOur friends won't buy this analysis.\n"
                                  "gj04\t0\t*\tThey drank the pub.\n");
  auto c = read_glue_tsv(glue_task_spec("cola"), cola.path.string());
  REQUIRE(c.items.size() == 2);
  CHECK(c.items[1].label == 0);
  CHECK(c.items[1].text == "They drank the pub.");
}

TEST_CASE("a missing GLUE folder or an unknown task is reported with what is there") {
  CHECK_THROWS_WITH(glue_task("qnli", "/nonexistent"), Catch::Contains("QNLI/train.tsv"));
  CHECK_THROWS_WITH(glue_task_spec("squad"), Catch::Contains("mnli-mm"));
}

TEST_CASE("pairs are joined by a separator and the longer text is cut first") {
  auto t = byte_pair_tokens("abcdef", "xy", 6);
  CHECK(t == std::vector<int32_t>{'a' + 1, 'b' + 1, 'c' + 1, sep_token, 'x' + 1, 'y' + 1});
  CHECK(byte_pair_tokens("abc", "", 2) == byte_tokens("abc", 2));
  CHECK(byte_pair_tokens("abcd", "wxyz", 5).size() == 5);
}

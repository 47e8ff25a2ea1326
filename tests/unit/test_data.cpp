#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/partition.hpp"
#include "data/sst2.hpp"
#include "data/synthetic_task.hpp"

using namespace fedq::data;

namespace {

double label_entropy(const std::vector<uint32_t>& hist) {
  double n = 0, h = 0;
  for (auto c : hist)
    n += c;
  for (auto c : hist)
    if (c)
      h -= c / n * std::log2(c / n);
  return h;
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

TEST_CASE("a Dirichlet split is reproducible and complete and and skewed at small alpha") {
  auto d = make_synthetic(1200, 1);
  auto s1 = dirichlet_split(d, 6, 0.1, 10, 42);
  auto s2 = dirichlet_split(d, 6, 0.1, 10, 42);
  CHECK(s1 == s2);
  size_t total = 0;
  for (const auto& s : s1) {
    CHECK(s.size() >= 10);
    total += s.size();
  }
  CHECK(total == d.items.size());
  double skewed = 0, iid = 0;
  for (const auto& h : label_histogram(d, s1))
    skewed += label_entropy(h);
  for (const auto& h : label_histogram(d, dirichlet_split(d, 6, 1000.0, 10, 42)))
    iid += label_entropy(h);
  CHECK(skewed / 6 < 1.2);  // max entropy over 4 labels is 2 bits
  CHECK(iid / 6 > 1.95);
}

TEST_CASE("a split that cannot give every client its minimum says so") {
  auto d = make_synthetic(40, 1);
  CHECK_THROWS_WITH(dirichlet_split(d, 6, 0.5, 10, 1), Catch::Contains("at least 10"));
}

TEST_CASE("SST-2 loads with the official row counts") {
  std::string dir = std::string(FEDQ_SHARED_DATA) + "/glue";
  if (!std::filesystem::exists(dir + "/SST-2/train.tsv")) {
    WARN("skipped: no GLUE data at " << dir);
    return;
  }
  auto t = sst2_task(dir);
  CHECK(t.train.items.size() == 67349);
  CHECK(t.eval.items.size() == 872);
  size_t positive = 0;
  for (const auto& e : t.eval.items)
    positive += e.label == 1;
  CHECK(positive == 444);
}

TEST_CASE("a malformed SST-2 file fails naming its line") {
  auto path = std::filesystem::temp_directory_path() / "fedq_bad_sst2.tsv";
  std::ofstream(path) << "sentence\tlabel\ngood movie \t1\nbad movie \tmaybe\n";
  CHECK_THROWS_WITH(read_sst2_tsv(path.string()), Catch::Contains(":3:") && Catch::Contains("maybe"));
  std::filesystem::remove(path);
}

#include "data/sst2.hpp"

#include <filesystem>
#include <fstream>

namespace fedq::data {

dataset read_sst2_tsv(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw data_error(path + ": cannot open file");
  dataset d{"sst2", 2, {}};
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line_no == 1) {
      if (line.rfind("sentence\tlabel", 0) != 0)
        throw data_error(path + ":1: expected the header 'sentence<TAB>label'");
      continue;
    }
    if (line.empty())
      continue;
    auto tab = line.rfind('\t');
    if (tab == std::string::npos || line.find('\t') != tab)
      throw data_error(path + ":" + std::to_string(line_no) + ": expected 2 TAB-separated columns");
    std::string label = line.substr(tab + 1);
    if (label != "0" && label != "1")
      throw data_error(path + ":" + std::to_string(line_no) + ": label '" + label +
                       "' is not 0 or 1");
    std::string text = line.substr(0, tab);
    while (!text.empty() && text.back() == ' ')
      text.pop_back();
    d.items.push_back({std::move(text), label == "1" ? 1 : 0});
  }
  if (d.items.empty())
    throw data_error(path + ": no examples");
  return d;
}

task sst2_task(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::path base = fs::path(dir) / "SST-2";
  if (!fs::exists(base / "train.tsv"))
    base = dir;
  if (!fs::exists(base / "train.tsv"))
    throw data_error(dir + ": no SST-2/train.tsv or train.tsv here (set data.dir to the GLUE "
                           "folder, e.g. ../shared/data/glue)");
  return {read_sst2_tsv((base / "train.tsv").string()), read_sst2_tsv((base / "dev.tsv").string())};
}

} // namespace fedq::data

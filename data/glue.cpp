#include "data/glue.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>

namespace fedq::data {

namespace {

using tk = task_kind;
using mk = metric_kind;
const std::vector<std::string> binary{"0", "1"};
const std::vector<std::string> entailment{"entailment", "not_entailment"};

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    auto tab = line.find('\t', start);
    out.push_back(line.substr(start, tab - start));
    if (tab == std::string::npos)
      return out;
    start = tab + 1;
  }
}

std::string trimmed(const std::string& s) {
  auto b = s.find_first_not_of(' ');
  if (b == std::string::npos)
    return {};
  return s.substr(b, s.find_last_not_of(' ') - b + 1);
}

size_t column(const std::vector<std::string>& header, const std::string& name,
              const std::string& where) {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name)
      return i;
  throw data_error(where + ": no column '" + name + "' in the header (is this the right file?)");
}

} // namespace

const std::vector<glue_spec>& glue_tasks() {
  static const std::vector<glue_spec> table{
    {"sst2", "SST-2", "dev.tsv", {}, "sentence", "", "label", tk::classification, binary,
     mk::accuracy, 67349, 872},
    {"cola", "CoLA", "dev.tsv", {"source", "label", "original_label", "sentence"}, "sentence", "",
     "label", tk::classification, binary, mk::matthews, 8551, 1043},
    {"mrpc", "MRPC", "dev.tsv", {}, "#1 String", "#2 String", "Quality", tk::classification,
     binary, mk::f1_accuracy, 3668, 408},
    {"rte", "RTE", "dev.tsv", {}, "sentence1", "sentence2", "label", tk::classification,
     entailment, mk::accuracy, 2490, 277},
    {"stsb", "STS-B", "dev.tsv", {}, "sentence1", "sentence2", "score", tk::regression, {},
     mk::pearson_spearman, 5749, 1500},
    {"qnli", "QNLI", "dev.tsv", {}, "question", "sentence", "label", tk::classification,
     entailment, mk::accuracy, 104743, 5463},
    {"qqp", "QQP", "dev.tsv", {}, "question1", "question2", "is_duplicate", tk::classification,
     binary, mk::f1_accuracy, 363846, 40430},
    {"mnli", "MNLI", "dev_matched.tsv", {}, "sentence1", "sentence2", "gold_label",
     tk::classification, {"entailment", "neutral", "contradiction"}, mk::accuracy, 392702, 9815},
    {"mnli-mm", "MNLI", "dev_mismatched.tsv", {}, "sentence1", "sentence2", "gold_label",
     tk::classification, {"entailment", "neutral", "contradiction"}, mk::accuracy, 392702, 9832},
    {"wnli", "WNLI", "dev.tsv", {}, "sentence1", "sentence2", "label", tk::classification, binary,
     mk::accuracy, 635, 71},
  };
  return table;
}

const glue_spec& glue_task_spec(const std::string& name) {
  std::string known;
  for (const auto& s : glue_tasks()) {
    if (s.name == name)
      return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  throw data_error("unknown GLUE task '" + name + "' (known: " + known + ")");
}

dataset read_glue_tsv(const glue_spec& spec, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw data_error(path + ": cannot open file");
  dataset d;
  d.name = spec.name;
  d.kind = spec.kind;
  d.num_classes = static_cast<uint32_t>(spec.labels.size());
  std::vector<std::string> header = spec.implicit_header;
  size_t a = 0, b = 0, y = 0;
  auto locate = [&] {
    a = column(header, spec.text_a, path);
    b = spec.text_b.empty() ? 0 : column(header, spec.text_b, path);
    y = column(header, spec.label, path);
  };
  if (!header.empty())
    locate();
  std::string line;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0)
      line.erase(0, 3);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    auto where = path + ":" + std::to_string(line_no);
    auto fields = split_tabs(line);
    if (header.empty()) {
      header = std::move(fields);
      locate();
      continue;
    }
    if (fields.size() != header.size())
      throw data_error(where + ": expected " + std::to_string(header.size()) +
                       " TAB-separated columns, found " + std::to_string(fields.size()));
    example ex;
    ex.text = trimmed(fields[a]);
    if (!spec.text_b.empty())
      ex.text_b = trimmed(fields[b]);
    const auto& v = fields[y];
    if (spec.kind == tk::regression) {
      double score = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), score);
      if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(score))
        throw data_error(where + ": '" + v + "' in column " + spec.label + " is not a number");
      ex.score = static_cast<float>(score);
    } else {
      size_t k = 0;
      while (k < spec.labels.size() && spec.labels[k] != v)
        ++k;
      if (k == spec.labels.size()) {
        std::string allowed;
        for (const auto& l : spec.labels)
          allowed += (allowed.empty() ? "" : ", ") + l;
        throw data_error(where + ": label '" + v + "' in column " + spec.label +
                         " is not one of " + allowed);
      }
      ex.label = static_cast<int32_t>(k);
    }
    d.items.push_back(std::move(ex));
  }
  if (d.items.empty())
    throw data_error(path + ": no examples");
  return d;
}

task glue_task(const std::string& name, const std::string& dir) {
  namespace fs = std::filesystem;
  const auto& spec = glue_task_spec(name);
  fs::path base = fs::path(dir) / spec.folder;
  if (!fs::exists(base / "train.tsv")) {
    std::vector<std::string> folders;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_directory())
        folders.push_back(e.path().filename().string());
    std::sort(folders.begin(), folders.end());
    std::string present;
    for (const auto& f : folders)
      present += (present.empty() ? "" : ", ") + f;
    throw data_error((base / "train.tsv").string() + ": not found; data.dir must be the GLUE folder " +
                     "(e.g. ../shared/data/glue). Folders there: " +
                     (present.empty() ? "none" : present));
  }
  return {read_glue_tsv(spec, (base / "train.tsv").string()),
          read_glue_tsv(spec, (base / spec.dev_file).string()), spec.metric};
}

} // namespace fedq::data

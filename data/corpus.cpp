#include "data/corpus.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "data/dataset.hpp"
#include "data/glue.hpp"

namespace fedq::data {

namespace {

const char* dir_hint =
  "give the folder holding wikitext-2-raw/, glue/, imdb-unsup/ and gutenberg/ as corpus.dir, e.g. ../shared/data";

void read_lines(const std::string& path, std::vector<std::string>& out, const std::string& hint) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw data_error(path + ": cannot open (" + hint + ")");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos)
      out.push_back(line);
  }
}

} // namespace

std::vector<corpus_source> read_corpus(const std::string& data_dir, const std::vector<std::string>& sources) {
  namespace fs = std::filesystem;
  std::vector<corpus_source> out;
  for (const auto& src : sources) {
    auto& docs = out.emplace_back(corpus_source{src, {}}).docs;
    if (src == "wikitext-2") {
      for (const char* f : {"wiki.valid.raw", "wiki.test.raw"})
        read_lines((fs::path(data_dir) / "wikitext-2-raw" / f).string(), docs, dir_hint);
    } else if (src == "glue-train") {
      for (const char* name : {"sst2", "cola", "mrpc", "rte", "stsb"}) {
        const auto& spec = glue_task_spec(name);
        auto path = (fs::path(data_dir) / "glue" / spec.folder / "train.tsv").string();
        if (!fs::exists(path))
          throw data_error(path + ": cannot open (" + dir_hint + ")");
        for (auto& e : read_glue_tsv(spec, path).items) {
          docs.push_back(std::move(e.text));
          if (!e.text_b.empty())
            docs.push_back(std::move(e.text_b));
        }
      }
    } else if (src == "imdb") {
      read_lines((fs::path(data_dir) / "imdb-unsup" / "unsup.txt").string(), docs, dir_hint);
    } else if (src == "gutenberg") {
      auto dir = fs::path(data_dir) / "gutenberg";
      if (!fs::is_directory(dir))
        throw data_error(dir.string() + ": cannot open (" + dir_hint + ")");
      std::vector<fs::path> books;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".txt")
          books.push_back(e.path());
      std::sort(books.begin(), books.end());
      for (const auto& b : books)
        read_lines(b.string(), docs, dir_hint);
    } else {
      read_lines(src, docs, "corpus.sources names it as a text file; the named corpora are wikitext-2, "
                            "glue-train, imdb and gutenberg");
    }
    if (docs.empty())
      throw data_error("corpus.sources: '" + src + "' has no documents");
  }
  return out;
}

} // namespace fedq::data

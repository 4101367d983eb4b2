// WeightStore: every tensor of a model folder by name, from model.safetensors or from the
// shards that model.safetensors.index.json lists.
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "io/json_fields.h"
#include "io/safetensors.h"

namespace hanlin::io {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSingleFileName = "model.safetensors";
constexpr std::string_view kIndexFileName = "model.safetensors.index.json";
constexpr int kMaxIndexDepth = 8;

bool is_existing_file(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error);
}

// A shard must be a file inside the model folder: a name like "../x" or "/etc/x" could make
// a downloaded checkpoint read files elsewhere.
bool is_plain_file_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos;
}

// name → shard file name, as the index's "weight_map" says.
std::map<std::string, std::string> read_weight_map(const std::string& index_path) {
  const Json index =
      parse_json_strict(read_text_file(index_path), index_path, "index", "field", kMaxIndexDepth);
  require_json_object(index, index_path, "index");
  const Json* weight_map = JsonFields(index, index_path).object("weight_map");
  if (!weight_map) throw Error(ErrorKind::kInvalidFile, index_path + ": 'weight_map' is missing");
  if (weight_map->empty())
    throw Error(ErrorKind::kInvalidFile, index_path + ": 'weight_map' lists no tensors");

  std::map<std::string, std::string> shard_of;
  for (const auto& [name, shard] : weight_map->items()) {
    if (!shard.is_string()) {
      throw Error(ErrorKind::kInvalidFile, index_path + ": 'weight_map' entry for tensor " +
                                               quote_text(name) + " must be a shard file name, got " +
                                               describe_json(shard));
    }
    const auto shard_name = shard.get<std::string>();
    if (!is_plain_file_name(shard_name)) {
      throw Error(ErrorKind::kInvalidFile, index_path + ": shard " + quote_text(shard_name) +
                                               " (for tensor " + quote_text(name) +
                                               ") must be a plain file name in the model folder");
    }
    shard_of.emplace(name, shard_name);
  }
  return shard_of;
}

}  // namespace

void WeightStore::add_file(SafetensorsFile file) {
  const size_t file_index = files_.size();
  for (size_t entry_index = 0; entry_index < file.entries().size(); ++entry_index) {
    const std::string& name = file.entries()[entry_index].name;
    const auto [it, inserted] = index_.try_emplace(name, file_index, entry_index);
    if (!inserted) {
      throw Error(ErrorKind::kInvalidFile,
                  model_dir_ + ": tensor " + quote_text(name) + " is in both " +
                      quote_text(fs::path(files_[it->second.first].path()).filename().string()) + " and " +
                      quote_text(fs::path(file.path()).filename().string()));
    }
  }
  files_.push_back(std::move(file));
}

WeightStore WeightStore::open_dir(const std::string& model_dir) {
  WeightStore store;
  store.model_dir_ = model_dir;
  const fs::path dir(model_dir);
  const fs::path single_path = dir / kSingleFileName;
  const fs::path index_path = dir / kIndexFileName;
  if (is_existing_file(single_path)) {
    store.add_file(SafetensorsFile::open(single_path.string()));
    return store;
  }
  if (!is_existing_file(index_path)) {
    throw Error(ErrorKind::kNotFound, model_dir + ": no model.safetensors or model.safetensors.index.json");
  }

  const std::map<std::string, std::string> shard_of = read_weight_map(index_path.string());
  std::set<std::string> shard_names;
  for (const auto& [name, shard] : shard_of) shard_names.insert(shard);
  for (const std::string& shard : shard_names) {
    if (!is_existing_file(dir / shard)) {
      throw Error(ErrorKind::kInvalidFile,
                  index_path.string() + ": shard " + quote_text(shard) + " is not in " + model_dir);
    }
    store.add_file(SafetensorsFile::open((dir / shard).string()));
  }
  for (const auto& [name, shard] : shard_of) {
    const auto it = store.index_.find(name);
    if (it == store.index_.end() || fs::path(store.files_[it->second.first].path()).filename() != shard) {
      throw Error(ErrorKind::kInvalidFile, index_path.string() + ": 'weight_map' puts tensor " +
                                               quote_text(name) + " in " + quote_text(shard) +
                                               ", but that shard does not hold it");
    }
  }
  return store;
}

bool WeightStore::contains(std::string_view name) const {
  return index_.find(name) != index_.end();
}

Tensor WeightStore::get(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    throw Error(ErrorKind::kInvalidFile, model_dir_ + ": the checkpoint has no tensor " + quote_text(name));
  }
  const SafetensorsFile& file = files_[it->second.first];
  return file.tensor(file.entries()[it->second.second]);
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& entry : index_) names.push_back(entry.first);
  return names;
}

}  // namespace hanlin::io

#include "prune/export.h"

#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"
#include "model/checkpoint.h"
#include "model/presets.h"
#include "model/presets_inl.h"

namespace hipp {
namespace fs = std::filesystem;

namespace {

// Files the export writes itself; everything else in the source folder
// (tokenizer, preprocessor, chat template, ...) is copied.
bool written_by_export(const std::string& name) {
  if (name == "config.json" || name == "blueprint.json" || name == "finetune.json" ||
      name == "model.safetensors.index.json")
    return true;
  return name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0;
}

}  // namespace

void export_pruned_model(LlavaModel& pruned, const Blueprint& blueprint, const std::string& source_dir,
                         const std::string& out_dir, const nlohmann::json& finetune) {
  if (!fs::is_directory(source_dir)) throw Error(source_dir + ": not a model folder");
  write_folder_atomically(out_dir, [&](const std::string& dir) {
    for (const auto& entry : fs::directory_iterator(source_dir)) {
      const std::string name = entry.path().filename().string();
      if (!entry.is_regular_file() || written_by_export(name)) continue;
      fs::copy_file(entry.path(), fs::path(dir) / name);
    }
    SaveOptions save;
    save.max_shard_bytes = 5ull << 30;  // as Hugging Face shards large checkpoints
    save_llava(pruned, dir, save);
    write_blueprint((fs::path(dir) / "blueprint.json").string(), blueprint);
    if (!finetune.is_null()) write_json_file((fs::path(dir) / "finetune.json").string(), finetune);
  });
}

}  // namespace hipp

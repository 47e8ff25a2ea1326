#pragma once
// The names of the model's parts and of the formats its frozen weights are
// stored in, and the check of a config's model options. No libtorch: the
// config reader (and its fuzz target) needs these, not the model.

#include <array>
#include <string>

namespace fedq::compute {

/// The seven linear modules of a layer, in this order everywhere.
constexpr std::array<const char*, 7> llama_modules{"q", "k", "v", "o", "gate", "up", "down"};
/// Index of a module name in llama_modules; -1 when unknown.
int llama_module_index(const std::string& name);

/// How a frozen weight is stored.
enum class weight_format { nf4, int8, bf16, fp32 };

/// "nf4", "int8", "bf16", "fp32"; throws std::invalid_argument naming the choices.
weight_format parse_weight_format(const std::string& s);
const char* weight_format_name(weight_format f);

} // namespace fedq::compute

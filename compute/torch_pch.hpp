#pragma once
// Precompiled header of compute/'s libtorch translation units.
#include <torch/torch.h>

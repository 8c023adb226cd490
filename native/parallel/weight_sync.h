// Weight sync from the trainer to rollout workers (rollout.placement: separate; issue 29): the
// policy's trainable tensors (every parameter, or the LoRA adapters alone) packed into one flat byte
// buffer and broadcast from the trainer's rank over a ProcessGroup (gloo on CPU, NCCL on CUDA), as
// verl and OpenRLHF push weights to their rollout engines after each update. One collective for the
// header and one for the bytes; no checkpoint file is written.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>
#include "parallel/process_group.h"

namespace gtr::dist {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// What both ends must agree on: tensor count, packed bytes, and a hash of names, shapes and dtypes.
struct WeightLayout {
  int64_t count = 0;
  int64_t bytes = 0;
  uint64_t hash = 0;
};

WeightLayout weight_layout(const NamedTensors& named);

// The tensors' bytes in one flat uint8 tensor on their device, each at a 64-byte aligned offset (in
// weight_layout's order). A copy: later updates of the tensors do not change it.
at::Tensor pack_weights(const NamedTensors& named);

// Copies `flat` (as pack_weights lays it out) into the tensors, bitwise.
void unpack_weights(NamedTensors& named, const at::Tensor& flat);

// Root side: broadcasts the header {count, bytes, hash, version} and then `flat` from this rank.
void send_weights(ProcessGroup& pg, const at::Tensor& flat, const WeightLayout& layout, int64_t version,
                  const std::string& label);

// Receiving side: the header from `root`, checked against `expect` (throws naming both layouts when
// they differ, e.g. a worker that loaded another model), then the bytes into `flat` (allocated on
// `device` when it does not have the size). Returns the version the root sent.
int64_t receive_weights(ProcessGroup& pg, int root, at::Tensor& flat, const WeightLayout& expect,
                        const at::Device& device, const std::string& label);

}  // namespace gtr::dist

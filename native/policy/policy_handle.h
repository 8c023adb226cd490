// What a JS Policy object owns natively, shared with the workers that use it. Workers copy the
// shared_ptr on the JS thread when queued, so dispose() never waits for a running worker: the
// weights are freed when the last one finishes. `mu` serialises native work on one model (a
// forward and a training step never interleave).
#pragma once
#include <memory>
#include <mutex>
#include <stdexcept>
#include "model/qwen3.h"

namespace gtr {

struct PolicyHandle {
  std::mutex mu;
  std::shared_ptr<Qwen3Model> model;

  // The model, or an error when the policy was disposed.
  std::shared_ptr<Qwen3Model> get() const {
    if (!model) throw std::runtime_error("the policy was disposed");
    return model;
  }
};

}  // namespace gtr

// The `Trainer` ObjectWrap (see src/native/types.ts NativeTrainer): a training engine bound to one
// JS Policy (and optionally a frozen reference Policy), with the loss and penalty registries' names
// as statics. Its test hooks are in train_hooks.cpp.
#pragma once
#include <napi.h>
#include <memory>
#include "train/trainer.h"

namespace gtr {

// The loss object of trainMicroBatch / lossDebug ({name, clipLow, ..., aggregation}; absent fields
// take LossConfig's defaults). Throws std::invalid_argument naming the field ("loss.sigma ...").
LossConfig loss_config_from_js(const Napi::Value& v);

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit TrainerWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Logprobs(const Napi::CallbackInfo& info);
  Napi::Value ReferenceLogprobs(const Napi::CallbackInfo& info);
  Napi::Value TrainMicroBatch(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info);
  Napi::Value SaveState(const Napi::CallbackInfo& info);
  Napi::Value LoadState(const Napi::CallbackInfo& info);
  Napi::Value Gradients(const Napi::CallbackInfo& info);
  Napi::Value SetProcessGroup(const Napi::CallbackInfo& info);
  Napi::Value VerifyReplicas(const Napi::CallbackInfo& info);
  Napi::Value GatherWeights(const Napi::CallbackInfo& info);
  Napi::Value ReleaseWeights(const Napi::CallbackInfo& info);
  Napi::Value IdleMicroBatch(const Napi::CallbackInfo& info);
  Napi::Value StateBytes(const Napi::CallbackInfo& info);
  Napi::Value GatheredBytes(const Napi::CallbackInfo& info);
  Napi::Value StepCount(const Napi::CallbackInfo& info);
  Napi::Value Memory(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  // The engine; throws std::runtime_error after dispose().
  std::shared_ptr<Trainer> get() const;
  Napi::Value Score(const Napi::CallbackInfo& info, bool reference);

  static Napi::Value LossNames(const Napi::CallbackInfo& info);
  static Napi::Value PenaltyNames(const Napi::CallbackInfo& info);

  std::shared_ptr<Trainer> trainer_;
};

}  // namespace gtr

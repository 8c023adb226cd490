// JS class ProcessGroup (src/native/types.ts NativeProcessGroup) over dist::ProcessGroup.
#pragma once
#include <napi.h>
#include <memory>
#include "parallel/process_group.h"
#include "parallel/weight_sync.h"

namespace gtr {

class ProcessGroupWrap : public Napi::ObjectWrap<ProcessGroupWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // The group behind a JS value, or nullptr when `v` is not a ProcessGroup.
  static std::shared_ptr<dist::ProcessGroup> GroupOf(const Napi::Value& v);
  explicit ProcessGroupWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Rank(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Backend(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value AllReduceSum(const Napi::CallbackInfo& info);
  Napi::Value AllGather(const Napi::CallbackInfo& info);
  Napi::Value Broadcast(const Napi::CallbackInfo& info);
  Napi::Value Barrier(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value SendWeights(const Napi::CallbackInfo& info);
  Napi::Value ReceiveWeights(const Napi::CallbackInfo& info);
  Napi::Value LoadReceivedWeights(const Napi::CallbackInfo& info);
  std::shared_ptr<dist::ProcessGroup> group(Napi::Env env);

  // Set by the constructor; the group exists once connect() resolved.
  dist::GroupOptions opts_;
  bool connecting_ = false;
  std::shared_ptr<dist::ProcessGroup> pg_;
  // Weight sync, receiving side: the last weights received (packed, see parallel/weight_sync.h) and
  // their version; -1 when none is waiting to be loaded. `receiving_` while a receive is in flight.
  struct Staged {
    at::Tensor flat;
    int64_t version = -1;
  };
  std::shared_ptr<Staged> staged_ = std::make_shared<Staged>();
  bool receiving_ = false;
  static Napi::FunctionReference* ctor_;
};

}  // namespace gtr

#include "train/sharded_forward.h"
#include "train/chunked_logprob.h"
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <stdexcept>

namespace gtr {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

// The unit's parameters in unit order (the tensors of the trainable list: the model's own).
std::vector<at::Tensor> unit_params(Qwen3Model& model, const FlatUnit& u) {
  std::vector<at::Tensor> out;
  for (size_t i : u.idx) out.push_back(model.trainable()[i].second);
  return out;
}

at::Tensor run_layer(Qwen3Model& m, int64_t i, const at::Tensor& x, const Rope& rope,
                     const std::vector<int64_t>& lens) {
  return m.layer_forward(i, x, rope, [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    return m.packed_attention(q, k, v, lens);
  });
}

// One decoder layer, sharded: forward gathers, computes without grad, releases; backward gathers,
// recomputes with grad, reduce-scatters the parameters' gradients, releases; returns d/dx only.
struct ShardedLayer : public torch::autograd::Function<ShardedLayer> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor cos, at::Tensor sin, Qwen3Model* model,
                            ZeroOptimizer* zero, int64_t layer, std::vector<int64_t> lens) {
    const size_t u = zero->unit_of_layer(layer);
    zero->gather_unit(u);
    at::Tensor y;
    {
      at::NoGradGuard no_grad;
      y = run_layer(*model, layer, x, Rope{cos, sin}, lens);
    }
    zero->release_unit(u);
    ctx->save_for_backward({x, cos, sin});
    ctx->saved_data["model"] = reinterpret_cast<int64_t>(model);
    ctx->saved_data["zero"] = reinterpret_cast<int64_t>(zero);
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["lens"] = lens;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto* model = reinterpret_cast<Qwen3Model*>(ctx->saved_data["model"].toInt());
    auto* zero = reinterpret_cast<ZeroOptimizer*>(ctx->saved_data["zero"].toInt());
    const int64_t layer = ctx->saved_data["layer"].toInt();
    const std::vector<int64_t> lens = ctx->saved_data["lens"].toIntVector();
    const size_t u = zero->unit_of_layer(layer);
    zero->gather_unit(u);
    std::vector<at::Tensor> params = unit_params(*model, zero->units()[u]);
    at::Tensor x = saved[0].detach().requires_grad_(true);
    at::Tensor y;
    {
      at::AutoGradMode enable(true);
      y = run_layer(*model, layer, x, Rope{saved[1], saved[2]}, lens);
    }
    variable_list inputs{x};
    inputs.insert(inputs.end(), params.begin(), params.end());
    variable_list g = torch::autograd::grad({y}, inputs, {grads[0]}, /*retain_graph=*/false,
                                            /*create_graph=*/false, /*allow_unused=*/true);
    std::vector<at::Tensor> pg(g.begin() + 1, g.end());
    y = at::Tensor();
    zero->reduce_unit_grads(u, pg);
    zero->release_unit(u);
    return {g[0], at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor forward_hidden_sharded(Qwen3Model& model, ZeroOptimizer& zero, const at::Tensor& input_ids,
                                  const std::vector<int64_t>& seq_lens) {
  const Qwen3Config& cfg = model.config();
  at::Tensor positions = packed_positions(input_ids, seq_lens, model.device());
  Rope rope = model.rope(positions);
  at::Tensor x = at::embedding(model.embed_tokens(), input_ids.to(model.device()));
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
    if (at::GradMode::is_enabled()) {
      x = ShardedLayer::apply(x, rope.cos, rope.sin, &model, &zero, i, seq_lens);
    } else {
      const size_t u = zero.unit_of_layer(i);
      zero.gather_unit(u);
      x = run_layer(model, i, x, rope, seq_lens);
      zero.release_unit(u);
    }
  }
  return rms_norm(x, model.final_norm(), cfg.rms_norm_eps);
}

void finish_backward_sharded(ZeroOptimizer& zero) {
  const size_t root = zero.unit_of_layer(-1);
  std::vector<at::Tensor> grads;
  // The trainable list's tensors are the model's (same TensorImpl): their .grad is the root's gradient.
  for (size_t i : zero.units()[root].idx) {
    at::Tensor& p = zero.param(i);
    grads.push_back(p.grad().defined() ? p.grad() : at::Tensor());
    if (p.grad().defined()) p.mutable_grad().reset();
  }
  zero.reduce_unit_grads(root, grads);
  zero.release_unit(root);
}

void idle_backward_sharded(Qwen3Model& model, ZeroOptimizer& zero) {
  for (int64_t i = model.config().num_hidden_layers - 1; i >= 0; --i) {
    const size_t u = zero.unit_of_layer(i);
    zero.gather_unit(u);
    zero.reduce_unit_grads(u, std::vector<at::Tensor>(zero.units()[u].idx.size()));
    zero.release_unit(u);
  }
  const size_t root = zero.unit_of_layer(-1);
  zero.reduce_unit_grads(root, std::vector<at::Tensor>(zero.units()[root].idx.size()));
  zero.release_unit(root);
}

void idle_forward_sharded(Qwen3Model& model, ZeroOptimizer& zero, bool backward) {
  zero.gather_unit(zero.unit_of_layer(-1));
  for (int64_t i = 0; i < model.config().num_hidden_layers; ++i) {
    const size_t u = zero.unit_of_layer(i);
    zero.gather_unit(u);
    zero.release_unit(u);
  }
  if (backward)
    idle_backward_sharded(model, zero);
  else
    zero.release_unit(zero.unit_of_layer(-1));
}

}  // namespace gtr

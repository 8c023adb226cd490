#include "train/chunked_logprob.h"
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <stdexcept>

namespace gtr {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

// Custom autograd function: (hidden [N,H], weight [V,H], targets [N]) -> (logp [N], entropy [N]).
struct ChunkedLogprob : public torch::autograd::Function<ChunkedLogprob> {
  static variable_list forward(AutogradContext* ctx, at::Tensor hidden, at::Tensor weight, at::Tensor targets,
                               int64_t chunk) {
    at::NoGradGuard no_grad;
    const int64_t N = hidden.size(0);
    auto fopt = hidden.options().dtype(at::kFloat);
    at::Tensor logp = at::empty({N}, fopt), ent = at::empty({N}, fopt), lse_all = at::empty({N}, fopt);
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t n = std::min(chunk, N - s);
      at::Tensor z = at::linear(hidden.narrow(0, s, n), weight).to(at::kFloat);  // [n, V]
      at::Tensor lse = at::logsumexp(z, -1);
      at::Tensor p = at::exp(z - lse.unsqueeze(1));
      logp.narrow(0, s, n).copy_(z.gather(1, targets.narrow(0, s, n).unsqueeze(1)).squeeze(1) - lse);
      ent.narrow(0, s, n).copy_(lse - (p * z).sum(-1));
      lse_all.narrow(0, s, n).copy_(lse);
    }
    ctx->save_for_backward({hidden, weight, targets, lse_all, ent});
    ctx->saved_data["chunk"] = chunk;
    ctx->set_materialize_grads(false);  // an unused output (entropy) costs nothing in backward
    return {logp, ent};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor hidden = saved[0], weight = saved[1], targets = saved[2], lse_all = saved[3], ent = saved[4];
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const bool need_h = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    at::Tensor g_lp = grads[0], g_ent = grads[1];
    const int64_t N = hidden.size(0);
    at::Tensor gh, gw;
    if (!(need_h || need_w) || (!g_lp.defined() && !g_ent.defined()) || N == 0) {
      return {gh, gw, at::Tensor(), at::Tensor()};
    }
    at::NoGradGuard no_grad;
    if (need_h) gh = at::empty_like(hidden);
    if (need_w) gw = at::zeros(weight.sizes(), weight.options().dtype(at::kFloat));
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t n = std::min(chunk, N - s);
      at::Tensor h = hidden.narrow(0, s, n);
      at::Tensor z = at::linear(h, weight).to(at::kFloat);
      at::Tensor logp_all = z - lse_all.narrow(0, s, n).unsqueeze(1);
      at::Tensor p = at::exp(logp_all);
      at::Tensor dz = at::zeros_like(z);
      if (g_lp.defined()) {
        at::Tensor g = g_lp.narrow(0, s, n).to(at::kFloat).unsqueeze(1);
        dz = -p * g;
        dz.scatter_add_(1, targets.narrow(0, s, n).unsqueeze(1), g);
      }
      if (g_ent.defined()) {
        at::Tensor g = g_ent.narrow(0, s, n).to(at::kFloat).unsqueeze(1);
        dz -= g * p * (logp_all + ent.narrow(0, s, n).unsqueeze(1));
      }
      at::Tensor dzc = dz.to(weight.scalar_type());
      if (need_h) gh.narrow(0, s, n).copy_(at::matmul(dzc, weight));
      if (need_w) gw.add_(at::matmul(dzc.t(), h).to(at::kFloat));
    }
    if (need_w) gw = gw.to(weight.scalar_type());
    return {gh, gw, at::Tensor(), at::Tensor()};
  }
};

// Custom autograd function: one decoder layer with recomputation in backward.
// Inputs: x [T, H], the layer's weights (only to route their gradients), cos / sin; non-tensor:
// the model, the layer index, the sequence lengths.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static at::Tensor run(Qwen3Model& m, int64_t i, const at::Tensor& x, const Rope& rope,
                        const std::vector<int64_t>& lens) {
    return m.layer_forward(i, x, rope, [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
      return m.packed_attention(q, k, v, lens);
    });
  }

  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::TensorList weights, at::Tensor cos, at::Tensor sin,
                            Qwen3Model* model, int64_t layer, std::vector<int64_t> lens) {
    at::Tensor y;
    {
      at::NoGradGuard no_grad;
      y = run(*model, layer, x, Rope{cos, sin}, lens);
    }
    ctx->save_for_backward({x, cos, sin});
    ctx->saved_data["model"] = reinterpret_cast<int64_t>(model);
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["lens"] = lens;
    ctx->saved_data["nw"] = static_cast<int64_t>(weights.size());
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto* model = reinterpret_cast<Qwen3Model*>(ctx->saved_data["model"].toInt());
    const int64_t layer = ctx->saved_data["layer"].toInt();
    const std::vector<int64_t> lens = ctx->saved_data["lens"].toIntVector();
    const int64_t nw = ctx->saved_data["nw"].toInt();
    const std::vector<at::Tensor> weights = model->layer(layer).tensors();
    if (static_cast<int64_t>(weights.size()) != nw) throw std::logic_error("checkpointed layer: weight count changed");
    at::Tensor x = saved[0].detach().requires_grad_(true);
    at::Tensor y;
    {
      at::AutoGradMode enable(true);
      y = run(*model, layer, x, Rope{saved[1], saved[2]}, lens);
    }
    variable_list inputs{x};
    std::vector<size_t> which;
    for (size_t j = 0; j < weights.size(); ++j) {
      if (weights[j].requires_grad()) {
        inputs.push_back(weights[j]);
        which.push_back(j);
      }
    }
    variable_list g = torch::autograd::grad({y}, inputs, {grads[0]}, /*retain_graph=*/false,
                                            /*create_graph=*/false, /*allow_unused=*/true);
    variable_list out(1 + weights.size() + 2 + 3);
    out[0] = g[0];
    for (size_t j = 0; j < which.size(); ++j) out[1 + which[j]] = g[1 + j];
    // Slots: x, weights..., cos, sin, then the three non-tensor arguments (left undefined).
    return out;
  }
};

void check_hidden(const at::Tensor& hidden, const at::Tensor& w, const at::Tensor& targets, int64_t chunk) {
  if (hidden.dim() != 2 || w.dim() != 2 || hidden.size(1) != w.size(1))
    throw std::invalid_argument("chunked log-probs: hidden [N, H] and lm_head [V, H] disagree: " +
                                c10::str(hidden.sizes()) + " vs " + c10::str(w.sizes()));
  if (hidden.scalar_type() != w.scalar_type())
    throw std::invalid_argument("chunked log-probs: hidden and lm_head dtypes differ");
  if (targets.dim() != 1 || targets.size(0) != hidden.size(0) || targets.scalar_type() != at::kLong)
    throw std::invalid_argument("chunked log-probs: targets must be int64 [N] with N = hidden rows");
  if (chunk < 1) throw std::invalid_argument("chunked log-probs: chunk rows must be >= 1");
}

}  // namespace

std::pair<at::Tensor, at::Tensor> chunked_logprob_entropy(const at::Tensor& hidden, const at::Tensor& lm_head,
                                                          const at::Tensor& targets, int64_t chunk_rows) {
  check_hidden(hidden, lm_head, targets, chunk_rows);
  variable_list out = ChunkedLogprob::apply(hidden, lm_head, targets, chunk_rows);
  return {out[0], out[1]};
}

std::pair<at::Tensor, at::Tensor> naive_logprob_entropy(const at::Tensor& hidden, const at::Tensor& lm_head,
                                                        const at::Tensor& targets) {
  check_hidden(hidden, lm_head, targets, 1);
  at::Tensor z = at::linear(hidden, lm_head).to(at::kFloat);
  at::Tensor lsm = at::log_softmax(z, -1);
  at::Tensor logp = lsm.gather(1, targets.unsqueeze(1)).squeeze(1);
  at::Tensor ent = -(lsm.exp() * lsm).sum(-1);
  return {logp, ent};
}

at::Tensor packed_positions(const at::Tensor& input_ids, const std::vector<int64_t>& seq_lens,
                            const at::Device& device) {
  if (input_ids.dim() != 1) throw std::invalid_argument("input_ids must be 1-D (packed)");
  std::vector<int64_t> pos;
  pos.reserve(static_cast<size_t>(input_ids.size(0)));
  for (int64_t len : seq_lens) {
    if (len <= 0) throw std::invalid_argument("every sequence needs at least one token");
    for (int64_t j = 0; j < len; ++j) pos.push_back(j);
  }
  if (static_cast<int64_t>(pos.size()) != input_ids.size(0))
    throw std::invalid_argument("sequence lengths sum to " + std::to_string(pos.size()) + " but the batch has " +
                                std::to_string(input_ids.size(0)) + " tokens");
  return at::tensor(pos, at::TensorOptions().dtype(at::kLong)).to(device);
}

at::Tensor forward_hidden_checkpointed(Qwen3Model& model, const at::Tensor& input_ids,
                                       const std::vector<int64_t>& seq_lens) {
  const Qwen3Config& cfg = model.config();
  at::Tensor positions = packed_positions(input_ids, seq_lens, model.device());
  Rope rope = model.rope(positions);
  at::Tensor x = at::embedding(model.embed_tokens(), input_ids.to(model.device()));
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
    const std::vector<at::Tensor> w = model.layer(i).tensors();
    x = CheckpointedLayer::apply(x, at::TensorList(w), rope.cos, rope.sin, &model, i, seq_lens);
  }
  return rms_norm(x, model.final_norm(), cfg.rms_norm_eps);
}

}  // namespace gtr

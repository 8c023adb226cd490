// Kernel dispatch (see dispatch.h): CUDA kernels when built and applicable, libtorch otherwise.
#include "cuda/dispatch.h"
#include "model/qwen3.h"
#include "ops/decode_attention.h"
#include "ops/sampler.h"
#include <cmath>
#include <cstdlib>
#include <cstring>
#ifdef GTR_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace gtr {
namespace kernels {

bool cuda_kernels_enabled() {
#ifdef GTR_WITH_CUDA
  static const bool enabled = [] {
    const char* e = std::getenv("GTR_KERNELS");
    return !(e && std::strcmp(e, "ref") == 0);
  }();
  return enabled;
#else
  return false;
#endif
}

namespace {
bool on_cuda(const at::Tensor& t) {
  return cuda_kernels_enabled() && t.defined() && t.is_cuda() &&
         (t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kFloat);
}
}  // namespace

// ---------------------------------------------------------------- reference paths
namespace ref {

namespace {
// float32 for the low-precision dtypes, float64 kept (references in float64 for the tests).
at::Tensor upcast(const at::Tensor& t) { return t.scalar_type() == at::kDouble ? t : t.to(at::kFloat); }
}  // namespace

at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                            const at::Tensor& slot_ids, const at::Tensor& lengths, double scale, int64_t max_length) {
  const int64_t B = q.size(0);
  const int64_t cap = k_cache.size(2);
  at::Tensor len = lengths.to(q.device(), at::kLong);
  int64_t L = max_length > 0 ? std::min(max_length, cap) : (B > 0 ? len.max().item<int64_t>() : 1);
  L = std::max<int64_t>(L, 1);
  at::Tensor sid = slot_ids.to(k_cache.device(), at::kLong);
  at::Tensor K = k_cache.index_select(0, sid).narrow(2, 0, L);  // [B, kvh, L, D]
  at::Tensor V = v_cache.index_select(0, sid).narrow(2, 0, L);
  at::Tensor pos = at::arange(L, len.options());
  at::Tensor valid = pos.unsqueeze(0) < len.unsqueeze(1);  // [B, L]
  const int64_t G = q.size(1) / k_cache.size(1);
  at::Tensor Kg = K.repeat_interleave(G, 1), Vg = V.repeat_interleave(G, 1);           // [B, heads, L, D]
  at::Tensor s = at::matmul(q.unsqueeze(2), Kg.transpose(-1, -2)).squeeze(2) * scale;  // [B, heads, L]
  s = upcast(s).masked_fill(valid.unsqueeze(1).logical_not(), -INFINITY);
  at::Tensor p = at::softmax(s, -1);
  p = at::where(valid.any(-1).view({B, 1, 1}), p, at::zeros_like(p));  // length 0 -> zeros
  at::Tensor o = at::matmul(p.unsqueeze(2).to(q.scalar_type()), Vg).squeeze(2);
  return o.contiguous();
}

at::Tensor decode_attention_paged(const at::Tensor& q, const at::Tensor& k_pool, const at::Tensor& v_pool,
                                  const at::Tensor& block_table, const at::Tensor& slot_ids, const at::Tensor& lengths,
                                  double scale, int64_t max_length) {
  // The engine's own paged attention (ops/decode_attention.h), over exactly [0, max_length).
  const at::Device dev = k_pool.device();
  const DecodeAttentionPlan plan = make_decode_plan(slot_ids.to(dev), lengths.to(dev), block_table.to(dev),
                                                    k_pool.size(1), std::max<int64_t>(max_length, 1));
  return gtr::decode_attention(q, k_pool, v_pool, plan, scale).view({q.size(0), q.size(1), q.size(2)});
}

std::pair<at::Tensor, at::Tensor> fused_add_rms_norm(const at::Tensor& x, const at::Tensor& residual,
                                                     const at::Tensor& weight, double eps) {
  at::Tensor sum = x + residual;
  return {gtr::rms_norm(sum, weight, eps), sum};
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) { return gtr::rms_norm(x, weight, eps); }

std::pair<at::Tensor, at::Tensor> rope(const at::Tensor& q, const at::Tensor& k, const at::Tensor& cos,
                                       const at::Tensor& sin) {
  Rope r{cos.to(q.device()), sin.to(q.device())};
  return {apply_rope(q, r), apply_rope(k, r)};
}

at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up) { return at::silu(gate) * up; }

std::tuple<at::Tensor, at::Tensor, at::Tensor> chunk_logprob_entropy(const at::Tensor& logits,
                                                                     const at::Tensor& targets) {
  at::Tensor z = upcast(logits);
  at::Tensor lse = at::logsumexp(z, 1);
  at::Tensor p = at::exp(z - lse.unsqueeze(1));
  at::Tensor ent = lse - (p * z).sum(1);
  at::Tensor tg = targets.to(z.device(), at::kLong);
  at::Tensor valid = (tg >= 0) & (tg < z.size(1));
  at::Tensor picked = z.gather(1, tg.clamp(0, z.size(1) - 1).unsqueeze(1)).squeeze(1);
  at::Tensor lp = at::where(valid, picked - lse, at::zeros_like(lse));
  return {lp, ent, lse};
}

at::Tensor chunk_logprob_entropy_backward(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& lse,
                                          const at::Tensor& entropy, const at::Tensor& grad_logprob,
                                          const at::Tensor& grad_entropy) {
  at::Tensor z = upcast(logits);
  at::Tensor logp = z - lse.to(z.scalar_type()).unsqueeze(1);
  at::Tensor p = at::exp(logp);
  at::Tensor g = at::zeros_like(z);
  if (grad_logprob.defined()) {
    at::Tensor onehot = at::zeros_like(z);
    at::Tensor tg = targets.to(z.device(), at::kLong);
    at::Tensor valid = ((tg >= 0) & (tg < z.size(1))).to(z.scalar_type());
    onehot.scatter_(1, tg.clamp(0, z.size(1) - 1).unsqueeze(1), valid.unsqueeze(1));
    g = g + grad_logprob.to(z.scalar_type()).unsqueeze(1) * (onehot - p);
  }
  if (grad_entropy.defined())
    g = g - grad_entropy.to(z.scalar_type()).unsqueeze(1) * p * (logp + entropy.to(z.scalar_type()).unsqueeze(1));
  return g.to(logits.scalar_type());
}

}  // namespace ref

// ---------------------------------------------------------------- dispatch
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                            const at::Tensor& slot_ids, const at::Tensor& lengths, double scale, int64_t max_length) {
#ifdef GTR_WITH_CUDA
  if (on_cuda(q) && q.dim() == 3 && k_cache.dim() == 4 && k_cache.size(1) > 0 && q.size(1) % k_cache.size(1) == 0 &&
      cuda::decode_attention_supported(q.scalar_type(), q.size(2), q.size(1) / k_cache.size(1)))
    return cuda::decode_attention(q, k_cache, v_cache, slot_ids, lengths, scale, max_length);
#endif
  return ref::decode_attention(q, k_cache, v_cache, slot_ids, lengths, scale, max_length);
}

at::Tensor decode_attention_paged(const at::Tensor& q, const at::Tensor& k_pool, const at::Tensor& v_pool,
                                  const at::Tensor& block_table, const at::Tensor& slot_ids, const at::Tensor& lengths,
                                  double scale, int64_t max_length) {
#ifdef GTR_WITH_CUDA
  if (on_cuda(q) && q.dim() == 3 && k_pool.dim() == 4 && k_pool.size(2) > 0 && q.size(1) % k_pool.size(2) == 0 &&
      cuda::decode_attention_supported(q.scalar_type(), q.size(2), q.size(1) / k_pool.size(2)))
    return cuda::decode_attention_paged(q, k_pool, v_pool, block_table, slot_ids, lengths, scale, max_length);
#endif
  return ref::decode_attention_paged(q, k_pool, v_pool, block_table, slot_ids, lengths, scale, max_length);
}

std::pair<at::Tensor, at::Tensor> fused_add_rms_norm(at::Tensor& x, at::Tensor& residual, const at::Tensor& weight,
                                                     double eps) {
#ifdef GTR_WITH_CUDA
  const int vec = x.scalar_type() == at::kBFloat16 ? 8 : 4;
  if (on_cuda(x) && x.is_contiguous() && residual.is_contiguous() && x.sizes() == residual.sizes() &&
      residual.scalar_type() == x.scalar_type() && weight.scalar_type() == x.scalar_type() && x.size(-1) % vec == 0 &&
      x.size(-1) <= 32768 &&
      !(at::GradMode::is_enabled() && (x.requires_grad() || residual.requires_grad() || weight.requires_grad())))
    return cuda::fused_add_rms_norm(x, residual, weight, eps);
#endif
  auto r = ref::fused_add_rms_norm(x, residual, weight, eps);
  if (!at::GradMode::is_enabled() || !(x.requires_grad() || residual.requires_grad() || weight.requires_grad())) {
    residual.copy_(r.second);
    x.copy_(r.first);
    return {x, residual};
  }
  return r;
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
#ifdef GTR_WITH_CUDA
  const int vec = x.scalar_type() == at::kBFloat16 ? 8 : 4;
  if (on_cuda(x) && weight.scalar_type() == x.scalar_type() && x.size(-1) % vec == 0 && x.size(-1) <= 32768 &&
      !(at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad())))
    return cuda::rms_norm(x, weight, eps);
#endif
  return ref::rms_norm(x, weight, eps);
}

std::pair<at::Tensor, at::Tensor> rope(at::Tensor& q, at::Tensor& k, const at::Tensor& cos, const at::Tensor& sin) {
#ifdef GTR_WITH_CUDA
  if (on_cuda(q) && q.dim() == 3 && k.dim() == 3 && q.is_contiguous() && k.is_contiguous() &&
      q.scalar_type() == k.scalar_type() && q.size(2) % 4 == 0 &&
      !(at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad()))) {
    cuda::rope_inplace(q, k, cos, sin);
    return {q, k};
  }
#endif
  return ref::rope(q, k, cos, sin);
}

at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up) {
#ifdef GTR_WITH_CUDA
  if (on_cuda(gate) && up.is_cuda() && gate.sizes() == up.sizes() && gate.scalar_type() == up.scalar_type() &&
      gate.stride(-1) == 1 && up.stride(-1) == 1 &&
      !(at::GradMode::is_enabled() && (gate.requires_grad() || up.requires_grad())))
    return cuda::swiglu(gate, up);
#endif
  return ref::swiglu(gate, up);
}

std::pair<at::Tensor, at::Tensor> sample_tokens(const at::Tensor& logits, double temperature, int64_t top_k,
                                                double top_p, double min_p, const at::Tensor& uniforms) {
#ifdef GTR_WITH_CUDA
  if (on_cuda(logits) && logits.dim() == 2 && logits.size(1) < (int64_t(1) << 31))
    return cuda::sample_tokens(logits, temperature, top_k, top_p, min_p, uniforms);
#endif
  SampleOut out = gtr::sample_tokens(logits, SamplerOptions{temperature, top_k, top_p, min_p}, uniforms);
  return {out.tokens, out.logprobs};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> chunk_logprob_entropy(const at::Tensor& logits,
                                                                     const at::Tensor& targets) {
#ifdef GTR_WITH_CUDA
  if (on_cuda(logits) && logits.dim() == 2) return cuda::chunk_logprob_entropy(logits, targets);
#endif
  at::NoGradGuard ng;
  return ref::chunk_logprob_entropy(logits, targets);
}

at::Tensor chunk_logprob_entropy_backward(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& lse,
                                          const at::Tensor& entropy, const at::Tensor& grad_logprob,
                                          const at::Tensor& grad_entropy) {
#ifdef GTR_WITH_CUDA
  if (on_cuda(logits) && logits.dim() == 2)
    return cuda::chunk_logprob_entropy_backward(logits, targets, lse, entropy, grad_logprob, grad_entropy);
#endif
  at::NoGradGuard ng;
  return ref::chunk_logprob_entropy_backward(logits, targets, lse, entropy, grad_logprob, grad_entropy);
}

}  // namespace kernels
}  // namespace gtr

#include "generate/sampler.h"
#include <cmath>
#include <limits>

namespace gtr {

static inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

uint32_t sequence_uniform24(uint64_t seed, int64_t prompt, int64_t sample, int64_t step) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ static_cast<uint64_t>(prompt));
  h = splitmix64(h ^ static_cast<uint64_t>(sample));
  h = splitmix64(h ^ static_cast<uint64_t>(step));
  return static_cast<uint32_t>(h >> 40);
}

std::pair<at::Tensor, at::Tensor> top_mass(const at::Tensor& w, double fraction) {
  const int64_t V = w.size(1);
  at::Tensor total = w.sum(-1);
  for (int64_t k = std::min<int64_t>(V, 64);; k = std::min<int64_t>(V, k * 4)) {
    auto top = w.topk(k, -1, /*largest=*/true, /*sorted=*/true);
    if (k == V || (std::get<0>(top).sum(-1) >= total * fraction).all().item<bool>())
      return {std::get<0>(top), std::get<1>(top)};
  }
}

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The warped scores and, when sorting was needed (top-p), the permutation they are in:
// `sorted_idx` [B, V] maps sorted position -> token id (descending scores); undefined otherwise.
struct Warped {
  at::Tensor scores;
  at::Tensor sorted_idx;
};

bool is_greedy(const SamplerOptions& o) { return o.temperature == 0.0; }

Warped warp(const at::Tensor& logits, const SamplerOptions& o) {
  const int64_t V = logits.size(1);
  at::Tensor s = o.temperature == 1.0 ? logits : logits / o.temperature;
  const bool use_k = o.top_k > 0 && o.top_k < V;
  const bool use_p = o.top_p < 1.0;
  const bool use_min = o.min_p > 0.0;
  Warped w;
  if (use_p) {
    if (use_k) {
      at::Tensor kth = std::get<0>(s.topk(o.top_k, -1, /*largest=*/true, /*sorted=*/true)).narrow(1, o.top_k - 1, 1);
      s = s.masked_fill(s < kth, kNegInf);
    }
    // Only the candidates that hold top_p of the mass are sorted (top_mass); every other token is
    // dropped by the rule below anyway. transformers drops a token when the ascending cumulative
    // probability up to and including it is <= 1 - top_p, i.e. when the mass of the tokens before
    // it in descending order is >= top_p.
    at::Tensor p = s.softmax(-1);
    auto cand = top_mass(p, o.top_p);
    at::Tensor pv = std::get<0>(cand);
    w.sorted_idx = std::get<1>(cand);
    at::Tensor sv = s.gather(1, w.sorted_idx);
    at::Tensor drop = (pv.cumsum(-1) - pv) >= o.top_p;
    drop.select(1, 0).fill_(false);  // min_tokens_to_keep = 1: the top token stays
    sv = sv.masked_fill(drop, kNegInf);
    if (use_min) {
      at::Tensor p = sv.softmax(-1);
      sv = sv.masked_fill(p < p.narrow(1, 0, 1) * o.min_p, kNegInf);
    }
    w.scores = sv;
    return w;
  }
  if (use_k) {
    at::Tensor kth = std::get<0>(s.topk(o.top_k, -1, /*largest=*/true, /*sorted=*/true)).narrow(1, o.top_k - 1, 1);
    s = s.masked_fill(s < kth, kNegInf);
  }
  if (use_min) {
    at::Tensor p = s.softmax(-1);
    s = s.masked_fill(p < std::get<0>(p.max(-1, /*keepdim=*/true)) * o.min_p, kNegInf);
  }
  w.scores = s;
  return w;
}

}  // namespace

SampleOut sample_tokens(const at::Tensor& logits, const SamplerOptions& o, const at::Tensor& uniforms) {
  TORCH_CHECK(logits.dim() == 2 && logits.scalar_type() == at::kFloat, "sample_tokens: logits must be float32 [B, V]");
  SampleOut out;
  if (is_greedy(o)) {
    out.tokens = logits.argmax(-1);
    out.logprobs = logits.gather(1, out.tokens.unsqueeze(1)).squeeze(1) - logits.logsumexp(-1);
    return out;
  }
  TORCH_CHECK(uniforms.numel() == logits.size(0), "sample_tokens: need one uniform per row");
  at::Tensor scaled = o.temperature == 1.0 ? logits : logits / o.temperature;
  Warped w = warp(logits, o);
  at::Tensor cdf = w.scores.softmax(-1).cumsum(-1);
  at::Tensor total = cdf.narrow(1, cdf.size(1) - 1, 1);
  // x in [0, total): the first position whose cdf exceeds x has positive probability.
  at::Tensor x = at::minimum(uniforms.view({-1, 1}) * total, at::nextafter(total, at::zeros_like(total)));
  at::Tensor pos = at::searchsorted(cdf, x, /*out_int32=*/false, /*right=*/true).clamp_max(cdf.size(1) - 1);
  out.tokens = (w.sorted_idx.defined() ? w.sorted_idx.gather(1, pos) : pos).squeeze(1);
  out.logprobs = scaled.gather(1, out.tokens.unsqueeze(1)).squeeze(1) - scaled.logsumexp(-1);
  return out;
}

at::Tensor kept_mask(const at::Tensor& logits, const SamplerOptions& o) {
  TORCH_CHECK(logits.dim() == 2 && logits.scalar_type() == at::kFloat, "kept_mask: logits must be float32 [B, V]");
  if (is_greedy(o)) return at::ones_like(logits, logits.options().dtype(at::kBool));
  Warped w = warp(logits, o);
  at::Tensor keep = w.scores > kNegInf;
  if (!w.sorted_idx.defined()) return keep;
  return at::zeros(logits.sizes(), keep.options()).scatter(1, w.sorted_idx, keep);
}

}  // namespace gtr

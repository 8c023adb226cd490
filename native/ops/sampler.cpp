#include "ops/sampler.h"
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

bool is_greedy(const SamplerOptions& o) { return !(o.temperature > 0.0); }

at::Tensor check_logits(const at::Tensor& logits, const char* what) {
  TORCH_CHECK(logits.dim() == 2 && at::isFloatingType(logits.scalar_type()), what, ": logits must be floating [B, V]");
  return logits.to(at::kFloat);
}

// z = logits / T (float32) and the keep mask over it: z >= max(t_k, t_p, t_m), see sampler.h.
at::Tensor keep_of(const at::Tensor& z, const SamplerOptions& o) {
  const int64_t V = z.size(1);
  at::Tensor keep = at::ones_like(z, z.options().dtype(at::kBool));
  at::Tensor zmax = std::get<0>(z.max(1, /*keepdim=*/true));
  if (o.top_k > 0 && o.top_k < V) {
    at::Tensor kth = std::get<0>(z.topk(o.top_k, 1, /*largest=*/true, /*sorted=*/true)).narrow(1, o.top_k - 1, 1);
    keep = keep & (z >= kth);
  }
  if (o.top_p < 1.0) {
    // The top-k survivors' mass; only the candidates holding top_p of it are sorted (top_mass).
    at::Tensor w = at::exp(z - zmax) * keep;
    auto cand = top_mass(w, o.top_p);
    at::Tensor sw = std::get<0>(cand), si = std::get<1>(cand);
    // The first sorted position whose inclusive cumulative mass reaches top_p is the last kept one:
    // transformers drops a token when the mass before it in descending order is >= top_p.
    at::Tensor pos =
        (sw.cumsum(1) < w.sum(1, /*keepdim=*/true) * o.top_p).sum(1, /*keepdim=*/true).clamp_max(sw.size(1) - 1);
    keep = keep & (z >= z.gather(1, si.gather(1, pos)));
  }
  if (o.min_p > 0.0) keep = keep & (z >= zmax + std::log(o.min_p));
  return keep;
}

at::Tensor scaled(const at::Tensor& z, const SamplerOptions& o) {
  return is_greedy(o) || o.temperature == 1.0 ? z : z / o.temperature;
}

}  // namespace

SampleOut sample_tokens(const at::Tensor& logits_in, const SamplerOptions& o, const at::Tensor& uniforms) {
  const at::Tensor zfull = scaled(check_logits(logits_in, "sample_tokens"), o);
  // Draws from the first o.vocab ids only (sampler.h); the log-prob below is over every id.
  const at::Tensor z = o.vocab > 0 && o.vocab < zfull.size(1) ? zfull.narrow(1, 0, o.vocab) : zfull;
  const at::Tensor nan_rows = z.isnan().any(1);
  SampleOut out;
  if (is_greedy(o)) {
    out.tokens = z.argmax(-1);
  } else {
    TORCH_CHECK(uniforms.numel() == z.size(0), "sample_tokens: need one uniform per row");
    at::Tensor cdf = z.masked_fill(keep_of(z, o).logical_not(), kNegInf).softmax(-1).cumsum(-1);
    at::Tensor total = cdf.narrow(1, cdf.size(1) - 1, 1);
    // x in [0, total): the first position whose cdf exceeds x has positive probability, so it is kept.
    at::Tensor u = uniforms.to(z.device(), at::kFloat).view({-1, 1});
    at::Tensor x = at::minimum(u * total, at::nextafter(total, at::zeros_like(total)));
    out.tokens = at::searchsorted(cdf, x, /*out_int32=*/false, /*right=*/true).clamp_max(cdf.size(1) - 1).squeeze(1);
  }
  out.logprobs = zfull.gather(1, out.tokens.unsqueeze(1)).squeeze(1) - zfull.logsumexp(-1);
  out.tokens.masked_fill_(nan_rows, -1);  // a NaN row: no token (sampler.h)
  out.logprobs.masked_fill_(nan_rows, std::numeric_limits<float>::quiet_NaN());
  return out;
}

at::Tensor kept_mask(const at::Tensor& logits, const SamplerOptions& o) {
  at::Tensor z = check_logits(logits, "kept_mask");
  if (is_greedy(o)) return at::ones_like(z, z.options().dtype(at::kBool));
  return keep_of(scaled(z, o), o);
}

}  // namespace gtr

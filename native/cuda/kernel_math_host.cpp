// Host runs of the decode-attention and sampler kernels: see kernel_math_host.h. The loops mirror
// the kernels' thread structure (decode_attention.cu: splits x key groups with one online softmax
// each, merged in shared memory, then across splits; sampler.cu: radix passes over the row, kWarps
// chunks in index order, 32 lanes of E elements each), and every index computation and reduction
// goes through the helpers in kernel_math.h that the kernels call.
#include "cuda/kernel_math_host.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>
#include "cuda/kernel_math.h"

namespace gtr {
namespace cuda {

namespace m = math;

at::Tensor host_decode_attention_paged(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                                       const at::Tensor& table_in, const at::Tensor& sid_in, const at::Tensor& len_in,
                                       double scale, int64_t max_length, int64_t num_splits, int vec) {
  const at::Tensor q = q_in.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor kp = k_in.to(at::kCPU, at::kFloat).contiguous(), vp = v_in.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor table = table_in.to(at::kCPU, at::kInt).contiguous();
  const at::Tensor sid = sid_in.to(at::kCPU, at::kInt).contiguous(), len = len_in.to(at::kCPU, at::kInt).contiguous();
  const int B = static_cast<int>(q.size(0)), H = static_cast<int>(q.size(1)), D = static_cast<int>(q.size(2));
  const int bs = static_cast<int>(kp.size(1)), KV = static_cast<int>(kp.size(2)), W = static_cast<int>(table.size(1));
  if (KV <= 0 || H % KV != 0 || kp.size(3) != D || (bs & (bs - 1)) != 0 || vec <= 0 || D % vec != 0)
    throw std::invalid_argument("host_decode_attention_paged: bad shapes");
  const int G = H / KV, LANES = D / vec;
  if (LANES > 32 || 32 % LANES != 0) throw std::invalid_argument("host_decode_attention_paged: D / vec must divide 32");
  const int GROUPS = 128 / LANES;  // decode_attention.cu: kThreads / LANES key rows in flight
  int shift = 0;
  while ((1 << shift) < bs) ++shift;
  const int32_t* lp = len.data_ptr<int32_t>();
  int64_t maxlen = max_length;
  if (maxlen <= 0)
    for (int b = 0; b < B; ++b) maxlen = std::max<int64_t>(maxlen, lp[b]);
  maxlen = std::max<int64_t>(maxlen, 1);
  // As kernels.cpp: split_len = ceil(maxlen / splits), then the splits that cover maxlen.
  int64_t splits = std::max<int64_t>(num_splits, 1);
  const int64_t split_len = std::max<int64_t>(1, (maxlen + splits - 1) / splits);
  splits = std::max<int64_t>(1, (maxlen + split_len - 1) / split_len);
  const int64_t s_block = static_cast<int64_t>(bs) * KV * D, s_pos = static_cast<int64_t>(KV) * D;
  const float qscale = static_cast<float>(scale) * 1.4426950408889634f;  // log2 units, as the kernel

  const float *Q = q.data_ptr<float>(), *K = kp.data_ptr<float>(), *V = vp.data_ptr<float>();
  at::Tensor out = at::zeros({B, H, D}, at::kFloat);
  float* O = out.data_ptr<float>();
  std::vector<float> part_acc(static_cast<size_t>(B) * H * splits * D),
      part_ml(static_cast<size_t>(B) * H * splits * 2);
  std::vector<float> sm_m(static_cast<size_t>(GROUPS) * G), sm_l(sm_m.size()), sm_acc(sm_m.size() * D);
  for (int b = 0; b < B; ++b) {
    const int32_t* trow = table.data_ptr<int32_t>() + static_cast<int64_t>(sid.data_ptr<int32_t>()[b]) * W;
    for (int kh = 0; kh < KV; ++kh) {
      for (int split = 0; split < splits; ++split) {
        const m::Range r = m::split_range(split, static_cast<int>(split_len), lp[b]);
        std::fill(sm_m.begin(), sm_m.end(), -INFINITY);
        std::fill(sm_l.begin(), sm_l.end(), 0.f);
        std::fill(sm_acc.begin(), sm_acc.end(), 0.f);
        for (int p = r.start; p < r.end; ++p) {
          const int group = (p - r.start) % GROUPS;  // p = base + u * GROUPS + group
          const int64_t ko = m::kv_offset(trow, p, shift, s_block, s_pos) + static_cast<int64_t>(kh) * D;
          for (int g = 0; g < G; ++g) {
            const float* qv = Q + (static_cast<int64_t>(b) * H + kh * G + g) * D;
            float s = 0.f;
            for (int i = 0; i < D; ++i) s = std::fma(qv[i] * qscale, K[ko + i], s);
            float* acc = &sm_acc[(static_cast<size_t>(group) * G + g) * D];
            m::online_softmax_step(sm_m[static_cast<size_t>(group) * G + g], sm_l[static_cast<size_t>(group) * G + g],
                                   acc, D, &s, 1, [&](int, float w) {
                                     for (int i = 0; i < D; ++i) acc[i] = std::fma(w, V[ko + i], acc[i]);
                                   });
          }
        }
        for (int g = 0; g < G; ++g) {
          const int64_t bh = static_cast<int64_t>(b) * H + kh * G + g;
          for (int d = 0; d < D; ++d) {
            const m::Merged mr = m::merge_partials(GROUPS, &sm_m[g], G, &sm_l[g], G, &sm_acc[g * D + d], G * D);
            if (splits == 1) {
              O[bh * D + d] = m::merged_output(mr);
            } else {
              part_acc[(bh * splits + split) * D + d] = mr.A;
              if (d == 0) {
                part_ml[(bh * splits + split) * 2] = mr.M;
                part_ml[(bh * splits + split) * 2 + 1] = mr.L;
              }
            }
          }
        }
      }
    }
  }
  if (splits > 1) {  // decode_attn_combine
    for (int64_t bh = 0; bh < static_cast<int64_t>(B) * H; ++bh) {
      const float* ml = &part_ml[bh * splits * 2];
      for (int d = 0; d < D; ++d)
        O[bh * D + d] = m::merged_output(
            m::merge_partials(static_cast<int>(splits), ml, 2, ml + 1, 2, &part_acc[bh * splits * D + d], D));
    }
  }
  return out;
}

HostSampleOut host_sample(const at::Tensor& logits_in, const SamplerOptions& o, const at::Tensor& uniforms, int vec) {
  // The kernel's part: drawing from the first o.vocab ids (the decode step takes the log-prob over
  // every id separately, sampler.h); here the log-prob is over the ids drawn from.
  at::Tensor logits = logits_in;
  if (o.vocab > 0 && o.vocab < logits.size(1)) logits = logits.narrow(1, 0, o.vocab);
  const at::Tensor z32 = logits.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor u32 = uniforms.to(at::kCPU, at::kFloat).contiguous();
  const int B = static_cast<int>(z32.size(0)), V = static_cast<int>(z32.size(1));
  constexpr int kWarps = 16;  // sampler.cu: 512 threads
  const int E = vec, chunk = m::chunk_size(V, kWarps, E);
  HostSampleOut out{at::empty({B}, at::kLong), at::empty({B}, at::kFloat), at::zeros({B, V}, at::kBool)};
  const float temperature = static_cast<float>(o.temperature), top_p = static_cast<float>(o.top_p),
              min_p = static_cast<float>(o.min_p);
  const bool greedy = !(temperature > 0.f), divide = !greedy && temperature != 1.f;
  for (int row = 0; row < B; ++row) {
    const float* p = z32.data_ptr<float>() + static_cast<int64_t>(row) * V;
    auto z = [&](int i) { return i < V ? (divide ? p[i] / temperature : p[i]) : -INFINITY; };
    bool* keep = out.kept.data_ptr<bool>() + static_cast<int64_t>(row) * V;
    // pass 1: max, sum, argmax (lowest index), NaN
    float M = -INFINITY, best = -INFINITY;
    int best_i = 0;
    bool nan = false;
    for (int i = 0; i < V; ++i) {
      const float x = z(i);
      nan |= x != x;
      M = std::max(M, x);
      if (x > best) best = x, best_i = i;
    }
    float S = 0.f;
    for (int i = 0; i < V; ++i)
      if (z(i) != -INFINITY) S += std::exp(z(i) - M);
    if (nan) {
      out.tokens[row] = -1;
      out.logprobs[row] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    if (greedy) {
      out.tokens[row] = best_i;
      out.logprobs[row] = best - M - std::log(S);
      for (int i = 0; i < V; ++i) keep[i] = true;
      continue;
    }
    const bool use_k = o.top_k > 0 && o.top_k < V, use_p = top_p < 1.f, use_m = min_p > 0.f;
    uint32_t thresh = use_m ? m::min_p_key(M, min_p) : 0u;
    auto radix = [&](int mode, uint32_t floor_key, float need_mass, int need_count) {
      uint32_t prefix = 0, mask = 0;
      float rem_mass = need_mass;
      int rem_count = need_count;
      for (int shift = 24; shift >= 0; shift -= 8) {
        unsigned int hc[256] = {0};
        float hm[256] = {0.f};
        for (int i = 0; i < V; ++i) {
          const float x = z(i);
          const uint32_t k = m::fkey(x);
          if ((k & mask) != prefix || k < floor_key) continue;
          const int d = (k >> shift) & 0xff;
          if (mode == 0)
            hc[d] += 1;
          else
            hm[d] += std::exp(x - M);
        }
        const int chosen = mode == 0 ? m::radix_pick_count(hc, rem_count) : m::radix_pick_mass(hm, rem_mass);
        prefix |= static_cast<uint32_t>(chosen) << shift;
        mask |= 0xffu << shift;
      }
      return prefix;
    };
    const uint32_t tk = use_k ? radix(0, 0u, 0.f, static_cast<int>(o.top_k)) : 0u;
    if (use_p) {
      float base = S;
      if (use_k) {
        base = 0.f;
        for (int i = 0; i < V; ++i)
          if (m::fkey(z(i)) >= tk) base += std::exp(z(i) - M);
      }
      thresh = std::max(thresh, radix(1, tk, top_p * base, 0));
    }
    thresh = std::max(thresh, tk);
    const bool filter = use_k || use_p || use_m;
    auto weight = [&](int i) { return m::kept(z(i), filter, thresh) ? std::exp(z(i) - M) : 0.f; };
    float mass[kWarps];
    for (int w = 0; w < kWarps; ++w) {
      const int c0 = std::min(V, w * chunk), c1 = std::min(V, c0 + chunk);
      mass[w] = 0.f;
      for (int i = c0; i < c1; ++i) mass[w] += weight(i);
    }
    float total = 0.f;
    for (int w = 0; w < kWarps; ++w) total += mass[w];
    const float target = u32.data_ptr<float>()[row] * total;
    const m::Chunk ch = m::select_chunk(mass, kWarps, target);
    const int sel = ch.index;
    const float tgt = target - ch.before;
    const int c0 = std::min(V, sel * chunk), c1 = std::min(V, c0 + chunk);
    // the selected warp: steps of 32 lanes x E elements; the first lane whose inclusive scan passes
    // the target walks its elements (first_past)
    float running = 0.f;
    int found = -1, last_kept = -1;
    std::vector<float> wl(static_cast<size_t>(E));
    for (int base = c0; base < c1 && found < 0; base += 32 * E) {
      float incl = 0.f;
      for (int lane = 0; lane < 32; ++lane) {
        const int i = base + lane * E;
        float lm = 0.f;
        for (int j = 0; j < E; ++j) {
          wl[static_cast<size_t>(j)] = i + j < c1 ? weight(i + j) : 0.f;
          if (wl[static_cast<size_t>(j)] > 0.f) last_kept = i + j;
          lm += wl[static_cast<size_t>(j)];
        }
        incl += lm;
        if (lm > 0.f && running + incl > tgt) {
          const int f = m::first_past(wl.data(), E, running + incl - lm, tgt);
          found = i + f;
          break;
        }
      }
      running += incl;
    }
    if (found < 0) found = last_kept < 0 ? c0 : last_kept;
    out.tokens[row] = found;
    out.logprobs[row] = z(found) - M - std::log(S);
    for (int i = 0; i < V; ++i) keep[i] = m::kept(z(i), filter, thresh);
  }
  return out;
}

}  // namespace cuda
}  // namespace gtr

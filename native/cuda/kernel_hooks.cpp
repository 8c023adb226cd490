// Test and benchmark hooks for the kernels (no ObjectWrap): registers on the addon's `testing` object
//   kernelDebug(name, opts) -> object of error metrics (kernel vs float64 reference, and the
//     libtorch reference in the kernel's dtype vs float64), on inputs drawn from opts.seed
//   kernelBench(name, opts) -> { kernelMs, refMs, bytes, kernelGBps, refGBps } (CUDA builds only)
// Both run synchronously on the JS thread (tests and benches only). Names: decode_attention,
// decode_attention_paged, rms_norm, rope, swiglu, logprob_entropy, sample, sample_stats, and
// sample_host. See test/gpu-kernels.test.ts. With { host: true } (decode_attention_paged) and for
// sample_host, the kernel's reduction tree runs on the host (kernel_math_host.h), on any build:
// test/kernel-math.test.ts.
#include "cuda/kernel_hooks.h"
#include "cuda/dispatch.h"
#include "cuda/kernel_math_host.h"
#include "core/errors.h"
#include "core/convert.h"
#include "core/options.h"
#include "ops/sampler.h"
#include "model/qwen3.h"
#include <ATen/CPUGeneratorImpl.h>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>
#ifdef GTR_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace gtr {
namespace {

struct Ctx {
  at::Device dev{at::kCPU};
  at::ScalarType dtype = at::kBFloat16;
  at::Generator gen;
  explicit Ctx(const JsOptions& o)
      : dev(parse_device(o.string("device", at::hasCUDA() ? "cuda" : "cpu"))),
        dtype(parse_dtype(o.string("dtype", "bfloat16"))),
        gen(at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(o.integer("seed", 1)))) {}
  // normal(0, std) drawn on the CPU in float32 (reproducible), then moved and cast.
  at::Tensor randn(at::IntArrayRef shape, double std = 1.0) {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
    t.normal_(0.0, std, gen);
    return t.to(dev, dtype);
  }
  at::Tensor randint(int64_t lo, int64_t hi, at::IntArrayRef shape) {
    return at::randint(lo, hi, shape, gen, at::TensorOptions().dtype(at::kLong)).to(dev);
  }
  at::Tensor rand(at::IntArrayRef shape) {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
    t.uniform_(0.0, 1.0, gen);
    return t.to(dev);
  }
};

at::Tensor f64(const at::Tensor& t) { return t.to(at::kCPU).to(at::kDouble); }
double rel_err(const at::Tensor& a, const at::Tensor& ref) {
  at::Tensor r = f64(ref);
  const double den = r.norm().item<double>();
  const double num = (f64(a) - r).norm().item<double>();
  return den > 0 ? num / den : num;
}
double max_abs(const at::Tensor& a, const at::Tensor& b) {
  return a.numel() == 0 ? 0.0 : (f64(a) - f64(b)).abs().max().item<double>();
}
bool finite(const at::Tensor& t) { return t.numel() == 0 || at::isfinite(t.to(at::kFloat)).all().item<bool>(); }

void sync(const at::Device& d) {
  if (d.is_cuda()) at::empty({1}, at::TensorOptions().device(d)).item<float>();  // a device -> host copy syncs
}

Napi::Object debug(Napi::Env env, const std::string& name, const JsOptions& o) {
  Ctx c(o);
  Napi::Object r = Napi::Object::New(env);
  const bool kernel = kernels::cuda_kernels_enabled() && c.dev.is_cuda();
  r.Set("usedKernel", kernel);
  if (name == "decode_attention") {
    const int64_t B = o.integer("batch", 8), H = o.integer("heads", 16), KVH = o.integer("kvHeads", 8),
                  D = o.integer("headDim", 128);
    const int64_t cap = o.integer("capacity", 300), slots = o.integer("slots", B + 3), splits = o.integer("splits", 0);
    const bool bshd = o.string("layout", "bhsd") == "bshd";
    at::Tensor q = c.randn({B, H, D});
    at::Tensor kbuf = bshd ? c.randn({slots, cap, KVH, D}) : c.randn({slots, KVH, cap, D});
    at::Tensor vbuf = bshd ? c.randn({slots, cap, KVH, D}) : c.randn({slots, KVH, cap, D});
    at::Tensor kc = bshd ? kbuf.permute({0, 2, 1, 3}) : kbuf, vc = bshd ? vbuf.permute({0, 2, 1, 3}) : vbuf;
    at::Tensor sid =
        at::randperm(slots, c.gen, at::TensorOptions().dtype(at::kLong)).narrow(0, 0, B).to(c.dev, at::kInt);
    at::Tensor len = c.randint(1, cap + 1, {B}).to(at::kInt);
    if (o.boolean("zeroLength", false) && B > 1) len.narrow(0, 0, 1).fill_(0);
    const int64_t maxlen = o.integer("maxLength", -1);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    at::Tensor out;
#ifdef GTR_WITH_CUDA
    if (kernel) out = cuda::decode_attention(q, kc, vc, sid, len, scale, maxlen, splits);
#endif
    if (!out.defined()) out = kernels::decode_attention(q, kc, vc, sid, len, scale, maxlen);
    at::Tensor ref64 = kernels::ref::decode_attention(f64(q), f64(kc), f64(vc), sid.cpu(), len.cpu(), scale, -1);
    at::Tensor refdt = kernels::ref::decode_attention(q, kc, vc, sid, len, scale, -1);
    r.Set("relErr", rel_err(out, ref64));
    r.Set("refRelErr", rel_err(refdt, ref64));
    r.Set("maxAbsErr", max_abs(out, ref64));
    r.Set("finite", finite(out));
  } else if (name == "decode_attention_paged") {
    // A pool of random blocks; each row's table is a slice of a random permutation, and the rows
    // share their first blocks (as the samples of one prompt do). Reference: the float64 path
    // over the rows gathered by the table.
    const int64_t B = o.integer("batch", 8), H = o.integer("heads", 16), KVH = o.integer("kvHeads", 8),
                  D = o.integer("headDim", 128);
    const int64_t bs = o.integer("blockSize", 32), cap = o.integer("capacity", 300);
    const int64_t W = (cap + bs - 1) / bs, NB = B * W + 1, shared = std::min(o.integer("sharedBlocks", 2), W);
    at::Tensor q = c.randn({B, H, D});
    at::Tensor kp = c.randn({NB, bs, KVH, D}), vp = c.randn({NB, bs, KVH, D});
    at::Tensor perm = at::randperm(NB - 1, c.gen, at::TensorOptions().dtype(at::kLong)).add_(1);
    at::Tensor table = perm.narrow(0, 0, B * W).view({B, W}).clone();
    if (shared > 0 && B > 1)
      table.narrow(1, 0, shared).copy_(table.narrow(0, 0, 1).narrow(1, 0, shared).expand({B, shared}));
    at::Tensor table_rows = at::cat({table, at::zeros({1, W}, table.options())}, 0).to(at::kInt);  // + a null row
    at::Tensor sid = at::randperm(B, c.gen, at::TensorOptions().dtype(at::kLong)).to(c.dev, at::kInt);
    at::Tensor len = c.randint(1, cap + 1, {B}).to(at::kInt);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    at::Tensor tdev = table_rows.to(c.dev);
    // host: decode_attention.cu's addressing, splits and merges run on the host (forced `splits`).
    at::Tensor out = o.boolean("host", false)
                         ? cuda::host_decode_attention_paged(q, kp, vp, table_rows, sid, len, scale, cap,
                                                             o.integer("splits", 1), c.dtype == at::kBFloat16 ? 8 : 4)
                         : kernels::decode_attention_paged(q, kp, vp, tdev, sid, len, scale, cap);
    at::Tensor ref64 =
        kernels::ref::decode_attention_paged(f64(q), f64(kp), f64(vp), table_rows, sid.cpu(), len.cpu(), scale, cap);
    at::Tensor refdt = kernels::ref::decode_attention_paged(q, kp, vp, tdev, sid, len, scale, cap);
    r.Set("relErr", rel_err(out, ref64));
    r.Set("refRelErr", rel_err(refdt, ref64));
    r.Set("maxAbsErr", max_abs(out, ref64));
    r.Set("finite", finite(out));
  } else if (name == "rms_norm") {
    const int64_t rows = o.integer("rows", 64), Hd = o.integer("hidden", 2048);
    at::Tensor x = c.randn({rows, Hd}), res = c.randn({rows, Hd}), w = c.randn({Hd}, 0.5).add_(1.0);
    const double eps = 1e-6;
    if (o.boolean("residual", true)) {
      at::Tensor xk = x.clone(), rk = res.clone();
      kernels::fused_add_rms_norm(xk, rk, w, eps);
      auto refdt = kernels::ref::fused_add_rms_norm(x, res, w, eps);
      at::Tensor sum64 = f64(x) + f64(res);
      at::Tensor ref64 = gtr::rms_norm(f64(refdt.second), f64(w), eps);  // norm of the dtype-rounded sum
      r.Set("relErr", rel_err(xk, ref64));
      r.Set("refRelErr", rel_err(refdt.first, ref64));
      r.Set("maxAbsVsRef", max_abs(xk, refdt.first));
      r.Set("residualMaxAbsDiff", max_abs(rk, refdt.second));
      r.Set("residualRelErr", rel_err(rk, sum64));
      r.Set("finite", finite(xk) && finite(rk));
    } else {
      at::Tensor out = kernels::rms_norm(x, w, eps);
      at::Tensor ref64 = gtr::rms_norm(f64(x), f64(w), eps);
      r.Set("relErr", rel_err(out, ref64));
      r.Set("refRelErr", rel_err(kernels::ref::rms_norm(x, w, eps), ref64));
      r.Set("maxAbsVsRef", max_abs(out, kernels::ref::rms_norm(x, w, eps)));
      r.Set("finite", finite(out));
    }
  } else if (name == "rope") {
    const int64_t T = o.integer("tokens", 64), H = o.integer("heads", 16), KVH = o.integer("kvHeads", 8),
                  D = o.integer("headDim", 128);
    at::Tensor q = c.randn({T, H, D}), k = c.randn({T, KVH, D});
    at::Tensor pos = c.randint(0, o.integer("maxPosition", 40000), {T});
    Rope rp = rope_tables(pos, D, o.number("theta", 1e6));
    at::Tensor qk = q.clone(), kk = k.clone();
    auto out = kernels::rope(qk, kk, rp.cos, rp.sin);
    auto refdt = kernels::ref::rope(q, k, rp.cos, rp.sin);
    Rope rp64{f64(rp.cos), f64(rp.sin)};
    at::Tensor q64 = apply_rope(f64(q), rp64), k64 = apply_rope(f64(k), rp64);
    r.Set("relErr", std::max(rel_err(out.first, q64), rel_err(out.second, k64)));
    r.Set("refRelErr", std::max(rel_err(refdt.first, q64), rel_err(refdt.second, k64)));
    r.Set("maxAbsVsRef", std::max(max_abs(out.first, refdt.first), max_abs(out.second, refdt.second)));
    r.Set("inPlace", out.first.data_ptr() == qk.data_ptr());
    r.Set("finite", finite(out.first) && finite(out.second));
  } else if (name == "swiglu") {
    const int64_t rows = o.integer("rows", 64), I = o.integer("inter", 6144);
    at::Tensor gu = c.randn({rows, 2 * I}, 2.0);
    at::Tensor g = gu.narrow(1, 0, I), u = gu.narrow(1, I, I);
    // strided: gate and up as views of one [rows, 2I] tensor (row stride 2I), as a fused gate_up
    // projection would give; contiguous copies otherwise.
    at::Tensor out =
        o.boolean("strided", false) ? kernels::swiglu(g, u) : kernels::swiglu(g.contiguous(), u.contiguous());
    at::Tensor refdt = kernels::ref::swiglu(g, u);
    at::Tensor ref64 = kernels::ref::swiglu(f64(g), f64(u));
    r.Set("relErr", rel_err(out, ref64));
    r.Set("refRelErr", rel_err(refdt, ref64));
    r.Set("maxAbsVsRef", max_abs(out, refdt));
    r.Set("finite", finite(out));
  } else if (name == "logprob_entropy") {
    const int64_t N = o.integer("rows", 32), V = o.integer("vocab", 151936);
    at::Tensor z = c.randn({N, V}, o.number("std", 3.0));
    at::Tensor tg = c.randint(0, V, {N});
    auto [lp, ent, lse] = kernels::chunk_logprob_entropy(z, tg);
    auto [lp64, ent64, lse64] = kernels::ref::chunk_logprob_entropy(f64(z), tg.cpu());
    r.Set("logprobRelErr", rel_err(lp, lp64));
    r.Set("entropyRelErr", rel_err(ent, ent64));
    r.Set("lseRelErr", rel_err(lse, lse64));
    at::Tensor glp = c.rand({N}).to(at::kFloat), gent = c.rand({N}).to(at::kFloat).sub_(0.5);
    at::Tensor gk = kernels::chunk_logprob_entropy_backward(z, tg, lse, ent, glp, gent);
    // float64 autograd of the same objective as the independent reference
    at::Tensor z64 = f64(z).requires_grad_(true);
    at::Tensor lsm = at::log_softmax(z64, 1);
    at::Tensor obj = (f64(glp) * lsm.gather(1, tg.cpu().unsqueeze(1)).squeeze(1)).sum() +
                     (f64(gent) * -(lsm.exp() * lsm).sum(1)).sum();
    obj.backward();
    r.Set("gradRelErr", rel_err(gk, z64.grad()));
    r.Set("refGradRelErr",
          rel_err(kernels::ref::chunk_logprob_entropy_backward(z, tg, lse64.to(c.dev), ent64.to(c.dev), glp, gent),
                  z64.grad()));
    r.Set("finite", finite(lp) && finite(ent) && finite(gk));
  } else if (name == "sample") {
    const int64_t B = o.integer("batch", 64), V = o.integer("vocab", 151936);
    const double temp = o.number("temperature", 1.0), top_p = o.number("topP", 1.0), min_p = o.number("minP", 0.0);
    const int64_t top_k = o.integer("topK", 0);
    at::Tensor z = c.randn({B, V}, o.number("std", 3.0));
    if (o.boolean("nanRow", false)) z[0][V / 3] = std::numeric_limits<float>::quiet_NaN();  // row 0: token -1
    at::Tensor u = c.rand({B});
    auto [tk, lpk] = kernels::sample_tokens(z, temp, top_k, top_p, min_p, u);
    if (o.boolean("nanRow", false)) {
      r.Set("nanRowToken", tk[0].item<double>());
      r.Set("nanRowRefToken", sample_tokens(z, SamplerOptions{temp, top_k, top_p, min_p}, u).tokens[0].item<double>());
      return r;
    }
    const SamplerOptions so{temp, top_k, top_p, min_p};
    SampleOut ref = sample_tokens(z, so, u);  // the libtorch sampler the kernel must equal
    at::Tensor tr = ref.tokens, lpr = ref.logprobs;
    const double mismatch = (tk != tr).to(at::kDouble).mean().item<double>();
    r.Set("mismatchFraction", mismatch);
    // the kernel's logprob against log_softmax(z / T) at the kernel's own token (rows where the
    // tokens differ by a rounding-boundary tie still check the logprob of what was sampled)
    at::Tensor zl = z.to(at::kFloat);
    if (temp > 0 && temp != 1.0) zl = zl / temp;
    at::Tensor lp_at = at::log_softmax(zl.to(at::kDouble), 1).gather(1, tk.unsqueeze(1)).squeeze(1);
    r.Set("logprobMaxAbsDiff", max_abs(lpk, lp_at));
    r.Set("refLogprobMaxAbsDiff",
          max_abs(lpr, at::log_softmax(zl.to(at::kDouble), 1).gather(1, tr.unsqueeze(1)).squeeze(1)));
    if (temp > 0) {
      at::Tensor keep = kept_mask(z, so);
      r.Set("inKeepFraction", keep.gather(1, tk.unsqueeze(1)).to(at::kDouble).mean().item<double>());
      r.Set("keptMean", keep.to(at::kDouble).sum(1).mean().item<double>());
    } else {
      r.Set("inKeepFraction", 1.0);
    }
    r.Set("tokensInRange", ((tk >= 0) & (tk < V)).all().item<bool>());
  } else if (name == "sample_host") {
    // sampler.cu's selection (radix top-k / top-p, min-p) and index-order draw run on the host
    // (kernel_math_host.cpp) against a float64 reference of sampler.h's semantics and the libtorch
    // sampler. pattern: "normal" | "ties" (values on a 0.5 grid) | "neginf" (a -inf tail and
    // scattered -inf) | "nan" (row 0 holds a NaN).
    const int64_t B = o.integer("batch", 32), V = o.integer("vocab", 1000);
    const double temp = o.number("temperature", 1.0), top_p = o.number("topP", 1.0), min_p = o.number("minP", 0.0);
    const int64_t top_k = o.integer("topK", 0);
    const std::string pattern = o.string("pattern", "normal");
    at::Tensor z = at::empty({B, V}, at::kFloat);
    z.normal_(0.0, o.number("std", 2.0), c.gen);
    if (pattern == "ties") z = (z * 2.0).round_() / 2.0;
    if (pattern == "neginf") {
      z.narrow(1, V / 2, V - V / 2).fill_(-std::numeric_limits<float>::infinity());
      z.masked_fill_(at::rand({B, V}, c.gen) < 0.2, -std::numeric_limits<float>::infinity());
      z.narrow(1, 0, 1).fill_(1.0);  // every row keeps a finite entry
    }
    if (pattern == "nan") z[0][V / 3] = std::numeric_limits<float>::quiet_NaN();
    at::Tensor u = at::empty({B}, at::kFloat);
    u.uniform_(0.0, 1.0, c.gen);
    const SamplerOptions so{temp, top_k, top_p, min_p};
    const cuda::HostSampleOut h = cuda::host_sample(z, so, u, c.dtype == at::kBFloat16 ? 8 : 4);
    const SampleOut lt = sample_tokens(z, so, u);
    // float64 reference, row by row: keep z >= max(t_k, t_p, t_m) (sampler.h), then the first index
    // whose inclusive cumulative kept mass exceeds u * kept mass.
    const bool greedy = !(temp > 0);
    at::Tensor z64 = z.to(at::kDouble);
    if (!greedy && temp != 1.0) z64 = z64 / temp;
    int64_t kept_mismatch = 0, token_errors = 0, token_mismatch = 0, nan_ok = 1;
    double lp_diff = 0;
    const double inf = std::numeric_limits<double>::infinity();
    for (int64_t b = 0; b < B; ++b) {
      const double* zr = z64.data_ptr<double>() + b * V;
      bool nan = false;
      for (int64_t i = 0; i < V; ++i) nan |= std::isnan(zr[i]);
      const int64_t th = h.tokens[b].item<int64_t>();
      if (nan) {
        nan_ok &= th == -1 && lt.tokens[b].item<int64_t>() == -1;
        continue;
      }
      double M = -inf;
      for (int64_t i = 0; i < V; ++i) M = std::max(M, zr[i]);
      double S = 0;
      for (int64_t i = 0; i < V; ++i) S += std::exp(zr[i] - M);
      std::vector<char> keep(static_cast<size_t>(V), 1);
      if (!greedy) {
        std::vector<double> sorted(zr, zr + V);
        std::sort(sorted.begin(), sorted.end(), std::greater<double>());
        double t = -inf;
        if (top_k > 0 && top_k < V) t = sorted[static_cast<size_t>(top_k - 1)];
        if (top_p < 1.0) {
          double mass = 0;
          for (double x : sorted)
            if (x >= t) mass += std::exp(x - M);
          double before = 0, tp = -inf;
          for (double x : sorted) {
            if (x < t) break;
            if (before >= top_p * mass) break;  // transformers: drop once the mass before reaches top_p
            tp = x;
            before += std::exp(x - M);
          }
          t = std::max(t, tp);
        }
        if (min_p > 0.0) t = std::max(t, M + std::log(min_p));
        for (int64_t i = 0; i < V; ++i) keep[static_cast<size_t>(i)] = zr[i] != -inf && zr[i] >= t;
      }
      const bool* hk = h.kept.data_ptr<bool>() + b * V;
      for (int64_t i = 0; i < V; ++i) kept_mismatch += (hk[i] != 0) != (keep[static_cast<size_t>(i)] != 0);
      int64_t tok = 0;
      if (greedy) {
        for (int64_t i = 1; i < V; ++i)
          if (zr[i] > zr[tok]) tok = i;
        token_errors += th != tok;
      } else {
        double total = 0;
        for (int64_t i = 0; i < V; ++i)
          if (keep[static_cast<size_t>(i)]) total += std::exp(zr[i] - M);
        const double x = u[b].item<double>() * total;
        double cum = 0, at_tok_before = 0, at_tok_incl = 0;
        tok = -1;
        for (int64_t i = 0; i < V; ++i) {
          if (!keep[static_cast<size_t>(i)]) continue;
          const double w = std::exp(zr[i] - M);
          if (tok < 0 && cum + w > x) tok = i;
          if (i == th) at_tok_before = cum, at_tok_incl = cum + w;
          cum += w;
        }
        // A differing token must sit at a float32 rounding distance of the drawn point.
        if (th != tok) {
          ++token_mismatch;
          const bool kept_th = th >= 0 && th < V && keep[static_cast<size_t>(th)];
          if (!kept_th || x < at_tok_before - 1e-5 * total || x >= at_tok_incl + 1e-5 * total) ++token_errors;
        }
      }
      if (th >= 0 && th < V)
        lp_diff = std::max(lp_diff, std::abs(h.logprobs[b].item<double>() - (zr[th] - M - std::log(S))));
      else
        ++token_errors;
    }
    r.Set("keptMismatch", static_cast<double>(kept_mismatch));
    r.Set("tokenMismatch", static_cast<double>(token_mismatch));
    r.Set("tokenErrors", static_cast<double>(token_errors));
    r.Set("libtorchMismatch", (h.tokens != lt.tokens).sum().item<double>());
    r.Set("logprobMaxAbsDiff", lp_diff);
    r.Set("nanRowsMarked", nan_ok == 1);
    r.Set("keptMean", h.kept.to(at::kDouble).sum(1).mean().item<double>());
  } else if (name == "sample_stats") {
    const int64_t draws = o.integer("draws", 200000), V = o.integer("vocab", 64);
    const double temp = o.number("temperature", 1.0), top_p = o.number("topP", 1.0), min_p = o.number("minP", 0.0);
    const int64_t top_k = o.integer("topK", 0);
    at::Tensor row = c.randn({1, V}, o.number("std", 1.5));
    at::Tensor z = row.expand({draws, V});  // row stride 0: one distribution, many draws
    at::Tensor u = c.rand({draws});
    at::Tensor tk = kernels::sample_tokens(z, temp, top_k, top_p, min_p, u).first;
    at::Tensor counts = at::bincount(tk.cpu(), {}, V).to(at::kDouble);
    at::Tensor zz = row.to(at::kCPU, at::kFloat) / temp;
    at::Tensor keep = kept_mask(row, SamplerOptions{temp, top_k, top_p, min_p}).squeeze(0).cpu();
    at::Tensor p = (at::softmax(zz.to(at::kDouble), 1).squeeze(0) * keep);
    p = p / p.sum();
    at::Tensor expct = p * static_cast<double>(draws);
    at::Tensor kept = keep & (expct > 5.0);
    const double outside = counts.masked_select(keep.logical_not()).sum().item<double>();
    const double chi2 = ((counts - expct).pow(2) / expct).masked_select(kept).sum().item<double>();
    const int64_t dof = std::max<int64_t>(1, kept.sum().item<int64_t>() - 1);
    r.Set("chi2PerDof", chi2 / static_cast<double>(dof));
    r.Set("dof", static_cast<double>(dof));
    r.Set("outsideKeep", outside);
    r.Set("tv", 0.5 * (counts / static_cast<double>(draws) - p).abs().sum().item<double>());
  } else {
    throw std::invalid_argument("kernelDebug: unknown kernel '" + name + "'");
  }
  return r;
}

#ifdef GTR_WITH_CUDA
Napi::Object bench(Napi::Env env, const std::string& name, const JsOptions& o) {
  at::NoGradGuard ng;
  at::Device dev(at::kCUDA, 0);
  auto opt = at::TensorOptions().device(dev).dtype(at::kBFloat16);
  double bytes = 0, kms = 0, rms = 0;
  const int iters = static_cast<int>(o.integer("iters", 20));
  if (name == "decode_attention") {
    const int64_t B = o.integer("batch", 256), L = o.integer("length", 512), cap = o.integer("capacity", 768);
    const int64_t H = o.integer("heads", 16), KVH = o.integer("kvHeads", 8), D = o.integer("headDim", 128);
    at::Tensor q = at::randn({B, H, D}, opt), kc = at::randn({B, KVH, cap, D}, opt),
               vc = at::randn({B, KVH, cap, D}, opt);
    at::Tensor sid = at::arange(B, opt.dtype(at::kInt)), len = at::full({B}, L, opt.dtype(at::kInt));
    const double sc = 1.0 / std::sqrt(static_cast<double>(D));
    kms = cuda::time_cuda_ms([&] { cuda::decode_attention(q, kc, vc, sid, len, sc, L); }, 3, iters);
    rms = cuda::time_cuda_ms([&] { kernels::ref::decode_attention(q, kc, vc, sid, len, sc, L); }, 2, 5);
    bytes = 2.0 * B * L * KVH * D * 2 + 2.0 * B * H * D * 2;
  } else if (name == "rms_norm") {
    const int64_t rows = o.integer("rows", 256), Hd = o.integer("hidden", 2048);
    at::Tensor x = at::randn({rows, Hd}, opt), res = at::randn({rows, Hd}, opt), w = at::randn({Hd}, opt);
    kms = cuda::time_cuda_ms([&] { cuda::fused_add_rms_norm(x, res, w, 1e-6); }, 3, iters);
    rms = cuda::time_cuda_ms([&] { kernels::ref::fused_add_rms_norm(x, res, w, 1e-6); }, 3, iters);
    bytes = 4.0 * rows * Hd * 2;
  } else if (name == "rope") {
    const int64_t T = o.integer("tokens", 256), H = o.integer("heads", 16), KVH = o.integer("kvHeads", 8),
                  D = o.integer("headDim", 128);
    at::Tensor q = at::randn({T, H, D}, opt), k = at::randn({T, KVH, D}, opt);
    Rope rp = rope_tables(at::arange(T, opt.dtype(at::kLong)), D, 1e6);
    kms = cuda::time_cuda_ms([&] { cuda::rope_inplace(q, k, rp.cos, rp.sin); }, 3, iters);
    rms = cuda::time_cuda_ms([&] { kernels::ref::rope(q, k, rp.cos, rp.sin); }, 3, iters);
    bytes = 2.0 * T * (H + KVH) * D * 2 + 2.0 * T * D * 4;
  } else if (name == "swiglu") {
    const int64_t rows = o.integer("rows", 256), I = o.integer("inter", 6144);
    at::Tensor gu = at::randn({rows, 2 * I}, opt);
    kms = cuda::time_cuda_ms([&] { cuda::swiglu(gu.narrow(1, 0, I), gu.narrow(1, I, I)); }, 3, iters);
    rms = cuda::time_cuda_ms([&] { kernels::ref::swiglu(gu.narrow(1, 0, I), gu.narrow(1, I, I)); }, 3, iters);
    bytes = 3.0 * rows * I * 2;
  } else if (name == "sample") {
    const int64_t B = o.integer("batch", 256), V = o.integer("vocab", 151936);
    at::Tensor z = at::randn({B, V}, opt).mul_(3.0);
    at::Tensor u = at::rand({B}, opt.dtype(at::kFloat));
    const double t = o.number("temperature", 1.0), p = o.number("topP", 1.0), mp = o.number("minP", 0.0);
    const int64_t k = o.integer("topK", 0);
    kms = cuda::time_cuda_ms([&] { cuda::sample_tokens(z, t, k, p, mp, u); }, 3, iters);
    rms = cuda::time_cuda_ms([&] { sample_tokens(z, SamplerOptions{t, k, p, mp}, u); }, 2, 5);
    bytes = 1.0 * B * V * 2;
  } else if (name == "logprob_entropy") {
    const int64_t N = o.integer("rows", 1024), V = o.integer("vocab", 151936);
    at::Tensor z = at::randn({N, V}, opt);
    at::Tensor tg = at::randint(0, V, {N}, opt.dtype(at::kLong));
    kms = cuda::time_cuda_ms([&] { cuda::chunk_logprob_entropy(z, tg); }, 3, iters);
    rms = cuda::time_cuda_ms([&] { kernels::ref::chunk_logprob_entropy(z, tg); }, 2, 5);
    bytes = 1.0 * N * V * 2;
  } else {
    throw std::invalid_argument("kernelBench: unknown kernel '" + name + "'");
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("kernelMs", kms);
  r.Set("refMs", rms);
  r.Set("bytes", bytes);
  r.Set("kernelGBps", bytes / (kms * 1e-3) / 1e9);
  r.Set("refGBps", bytes / (rms * 1e-3) / 1e9);
  return r;
}
#endif

Napi::Value KernelDebug(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 1 && info[0].IsString(), "kernelDebug(name, opts?)");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  return js_try(env, [&] {
    return debug(env, name,
                 JsOptions::optional(env, info.Length() >= 2 ? info[1] : env.Undefined(), "kernelDebug: option "));
  });
}

Napi::Value KernelBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 1 && info[0].IsString(), "kernelBench(name, opts?)");
#ifdef GTR_WITH_CUDA
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  return js_try(env, [&] {
    return bench(env, name,
                 JsOptions::optional(env, info.Length() >= 2 ? info[1] : env.Undefined(), "kernelBench: option "));
  });
#else
  GTR_THROW_ERROR(env, "kernelBench: this addon was built without CUDA");
#endif
}

}  // namespace

void register_kernel_hooks(Napi::Env env, Napi::Object& testing) {
  testing.Set("kernelDebug", Napi::Function::New(env, KernelDebug, "kernelDebug"));
  testing.Set("kernelBench", Napi::Function::New(env, KernelBench, "kernelBench"));
}

}  // namespace gtr

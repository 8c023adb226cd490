// at::Tensor glue for the CUDA kernels (declared in kernels.h, launched through launch.h).
// Compiled in every build but empty unless GTR_WITH_CUDA: the .cu files hold raw-pointer kernels
// only, so they compile with a bare nvcc, and the ATen / c10::cuda pieces stay in this C++ file.
#ifdef GTR_WITH_CUDA
#include "cuda/kernels.h"
#include "cuda/launch.h"
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <algorithm>
#include <mutex>
#include <vector>

namespace gtr {
namespace cuda {
namespace {

int dtype_code(const at::Tensor& t, const char* what) {
  if (t.scalar_type() == at::kBFloat16) return raw::kBF16;
  if (t.scalar_type() == at::kFloat) return raw::kF32;
  TORCH_CHECK(false, what, ": CUDA kernels take bfloat16 or float32, got ", t.scalar_type());
}

void check(cudaError_t e, const char* what) {
  TORCH_CHECK(e == cudaSuccess, what, ": CUDA error ", cudaGetErrorString(e));
}

void check_cuda(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.defined() && t.is_cuda(), what, " must be a CUDA tensor");
}

int sm_count(int device) {
  static std::mutex mu;
  static std::vector<int> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (device >= static_cast<int>(cache.size())) cache.resize(device + 1, 0);
  if (cache[device] == 0) {
    int n = 0;
    check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
    cache[device] = n > 0 ? n : 1;
  }
  return cache[device];
}

cudaStream_t stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

}  // namespace

bool decode_attention_supported(at::ScalarType dtype, int64_t head_dim, int64_t group) {
  const int code = dtype == at::kBFloat16 ? raw::kBF16 : dtype == at::kFloat ? raw::kF32 : -1;
  return code >= 0 && raw::decode_attention_supported(code, static_cast<int>(head_dim), static_cast<int>(group));
}

namespace {
// Shared by the contiguous and paged entry points. Paged: k_cache / v_cache are the pools viewed
// [blocks, kv, block_size, D] and `table` is the int32 block table; capacity is then max_length.
at::Tensor decode_attention_impl(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                                 const at::Tensor& slot_ids, const at::Tensor& lengths, double scale,
                                 int64_t max_length, int64_t num_splits, const at::Tensor& table, int block_shift) {
  check_cuda(q, "decode_attention: q");
  check_cuda(k_cache, "decode_attention: k_cache");
  check_cuda(v_cache, "decode_attention: v_cache");
  TORCH_CHECK(q.dim() == 3, "decode_attention: q must be [B, heads, D]");
  TORCH_CHECK(k_cache.dim() == 4 && v_cache.dim() == 4,
              "decode_attention: caches must be [slots, kv_heads, capacity, D]");
  TORCH_CHECK(k_cache.sizes() == v_cache.sizes(), "decode_attention: k_cache and v_cache shapes differ");
  TORCH_CHECK(k_cache.scalar_type() == q.scalar_type() && v_cache.scalar_type() == q.scalar_type(),
              "decode_attention: q and caches must share a dtype");
  const bool paged = table.defined();
  const int64_t B = q.size(0), H = q.size(1), D = q.size(2), KVH = k_cache.size(1);
  const int64_t cap = paged ? (max_length > 0 ? max_length : table.size(1) << block_shift) : k_cache.size(2);
  TORCH_CHECK(k_cache.size(3) == D, "decode_attention: head_dim mismatch");
  TORCH_CHECK(KVH > 0 && H % KVH == 0, "decode_attention: heads must be a multiple of kv_heads");
  TORCH_CHECK(decode_attention_supported(q.scalar_type(), D, H / KVH), "decode_attention: unsupported dtype ",
              q.scalar_type(), " / head_dim ", D, " / group ", H / KVH);
  TORCH_CHECK(q.stride(2) == 1 && k_cache.stride(3) == 1 && v_cache.stride(3) == 1,
              "decode_attention: last dims must be contiguous");
  const int code = dtype_code(q, "decode_attention");
  const int vec = code == raw::kBF16 ? 8 : 4;
  auto aligned = [&](const at::Tensor& t, int64_t s0, int64_t s1, int64_t s2) {
    return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0 && s0 % vec == 0 && s1 % vec == 0 && s2 % vec == 0;
  };
  TORCH_CHECK(aligned(q, q.stride(0), q.stride(1), 0) &&
                  aligned(k_cache, k_cache.stride(0), k_cache.stride(1), k_cache.stride(2)) &&
                  aligned(v_cache, v_cache.stride(0), v_cache.stride(1), v_cache.stride(2)),
              "decode_attention: tensors must be 16-byte aligned");
  TORCH_CHECK(slot_ids.numel() == B && lengths.numel() == B, "decode_attention: slot_ids / lengths must be [B]");
  c10::cuda::CUDAGuard guard(q.device());
  at::Tensor sid = slot_ids.to(q.device(), at::kInt).contiguous();
  at::Tensor len = lengths.to(q.device(), at::kInt).contiguous();
  at::Tensor out = at::empty({B, H, D}, q.options().memory_format(at::MemoryFormat::Contiguous));
  if (B == 0) return out;
  const int64_t maxlen = max_length > 0 ? std::min(max_length, cap) : cap;
  int64_t splits = num_splits;
  if (splits <= 0) {
    const int64_t blocks = B * KVH;
    const int64_t target = static_cast<int64_t>(sm_count(q.get_device())) * 4;
    splits = (target + blocks - 1) / blocks;
    splits = std::min<int64_t>(splits, std::max<int64_t>(1, (maxlen + 127) / 128));  // >= ~128 keys per split
    splits = std::min<int64_t>(std::max<int64_t>(splits, 1), 64);
  }
  const int64_t split_len = std::max<int64_t>(1, (maxlen + splits - 1) / splits);
  splits = std::max<int64_t>(1, (maxlen + split_len - 1) / split_len);
  at::Tensor part_acc, part_ml;
  if (splits > 1) {
    part_acc = at::empty({B, H, splits, D}, q.options().dtype(at::kFloat));
    part_ml = at::empty({B, H, splits, 2}, q.options().dtype(at::kFloat));
  }
  raw::DecodeAttnArgs a{};
  a.q = q.data_ptr();
  a.q_sb = q.stride(0);
  a.q_sh = q.stride(1);
  a.k = k_cache.data_ptr();
  a.k_sslot = k_cache.stride(0);
  a.k_shead = k_cache.stride(1);
  a.k_spos = k_cache.stride(2);
  a.v = v_cache.data_ptr();
  a.v_sslot = v_cache.stride(0);
  a.v_shead = v_cache.stride(1);
  a.v_spos = v_cache.stride(2);
  a.slot_ids = sid.data_ptr<int32_t>();
  a.lengths = len.data_ptr<int32_t>();
  if (paged) {
    a.block_table = table.data_ptr<int32_t>();
    a.bt_stride = table.stride(0);
    a.block_shift = block_shift;
  }
  a.out = out.data_ptr();
  a.part_acc = splits > 1 ? part_acc.data_ptr<float>() : nullptr;
  a.part_ml = splits > 1 ? part_ml.data_ptr<float>() : nullptr;
  a.B = static_cast<int>(B);
  a.heads = static_cast<int>(H);
  a.kv_heads = static_cast<int>(KVH);
  a.D = static_cast<int>(D);
  a.splits = static_cast<int>(splits);
  a.split_len = static_cast<int>(split_len);
  a.scale = static_cast<float>(scale);
  a.dtype = code;
  check(raw::decode_attention(a, stream()), "decode_attention");
  return out;
}
}  // namespace

at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                            const at::Tensor& slot_ids, const at::Tensor& lengths, double scale, int64_t max_length,
                            int64_t num_splits) {
  return decode_attention_impl(q, k_cache, v_cache, slot_ids, lengths, scale, max_length, num_splits, at::Tensor(), 0);
}

at::Tensor decode_attention_paged(const at::Tensor& q, const at::Tensor& k_pool, const at::Tensor& v_pool,
                                  const at::Tensor& block_table, const at::Tensor& slot_ids, const at::Tensor& lengths,
                                  double scale, int64_t max_length, int64_t num_splits) {
  check_cuda(block_table, "decode_attention_paged: block_table");
  TORCH_CHECK(k_pool.dim() == 4 && v_pool.dim() == 4 && k_pool.sizes() == v_pool.sizes(),
              "decode_attention_paged: pools must be [blocks, block_size, kv_heads, D] of one shape");
  const int64_t bs = k_pool.size(1);
  TORCH_CHECK(bs >= 1 && (bs & (bs - 1)) == 0, "decode_attention_paged: block_size must be a power of two");
  TORCH_CHECK(block_table.dim() == 2 && block_table.scalar_type() == at::kInt && block_table.stride(1) == 1,
              "decode_attention_paged: block_table must be int32 [rows, W] with contiguous rows");
  TORCH_CHECK(max_length > 0 && max_length <= block_table.size(1) * bs,
              "decode_attention_paged: max_length must be in [1, W * block_size]");
  int shift = 0;
  while ((int64_t{1} << shift) < bs) ++shift;
  return decode_attention_impl(q, k_pool.permute({0, 2, 1, 3}), v_pool.permute({0, 2, 1, 3}), slot_ids, lengths, scale,
                               max_length, num_splits, block_table, shift);
}

std::pair<at::Tensor, at::Tensor> fused_add_rms_norm(at::Tensor& x, at::Tensor& residual, const at::Tensor& weight,
                                                     double eps) {
  check_cuda(x, "fused_add_rms_norm: x");
  check_cuda(residual, "fused_add_rms_norm: residual");
  TORCH_CHECK(x.is_contiguous() && residual.is_contiguous() && x.sizes() == residual.sizes(),
              "fused_add_rms_norm: x and residual must be contiguous and of one shape");
  TORCH_CHECK(x.scalar_type() == residual.scalar_type() && weight.scalar_type() == x.scalar_type(),
              "fused_add_rms_norm: dtypes differ");
  const int64_t H = x.size(-1);
  TORCH_CHECK(weight.numel() == H, "fused_add_rms_norm: weight must be [H]");
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor w = weight.contiguous();
  check(raw::add_rms_norm(x.data_ptr(), residual.data_ptr(), w.data_ptr(), x.data_ptr(), x.numel() / H,
                          static_cast<int>(H), static_cast<float>(eps), dtype_code(x, "fused_add_rms_norm"), stream()),
        "fused_add_rms_norm");
  return {x, residual};
}

at::Tensor rms_norm(const at::Tensor& x_in, const at::Tensor& weight, double eps) {
  check_cuda(x_in, "rms_norm: x");
  TORCH_CHECK(weight.scalar_type() == x_in.scalar_type(), "rms_norm: dtypes differ");
  const int64_t H = x_in.size(-1);
  TORCH_CHECK(weight.numel() == H, "rms_norm: weight must be [H]");
  c10::cuda::CUDAGuard guard(x_in.device());
  at::Tensor x = x_in.contiguous();
  at::Tensor w = weight.contiguous();
  at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  check(raw::add_rms_norm(x.data_ptr(), nullptr, w.data_ptr(), out.data_ptr(), x.numel() / H, static_cast<int>(H),
                          static_cast<float>(eps), dtype_code(x, "rms_norm"), stream()),
        "rms_norm");
  return out;
}

void rope_inplace(at::Tensor& q, at::Tensor& k, const at::Tensor& cos, const at::Tensor& sin) {
  check_cuda(q, "rope_inplace: q");
  check_cuda(k, "rope_inplace: k");
  TORCH_CHECK(q.dim() == 3 && k.dim() == 3 && q.size(0) == k.size(0) && q.size(2) == k.size(2),
              "rope_inplace: q [T, hq, D] and k [T, hk, D]");
  TORCH_CHECK(q.is_contiguous() && k.is_contiguous(), "rope_inplace: q and k must be contiguous");
  TORCH_CHECK(q.scalar_type() == k.scalar_type(), "rope_inplace: q and k dtypes differ");
  const int64_t T = q.size(0), D = q.size(2);
  TORCH_CHECK(cos.size(0) == T && cos.size(1) == D && sin.sizes() == cos.sizes(),
              "rope_inplace: cos / sin must be [T, D]");
  c10::cuda::CUDAGuard guard(q.device());
  at::Tensor c = cos.to(q.device(), at::kFloat).contiguous();
  at::Tensor s = sin.to(q.device(), at::kFloat).contiguous();
  check(raw::rope_inplace(q.data_ptr(), k.data_ptr(), c.data_ptr<float>(), s.data_ptr<float>(), T,
                          static_cast<int>(q.size(1)), static_cast<int>(k.size(1)), static_cast<int>(D),
                          dtype_code(q, "rope_inplace"), stream()),
        "rope_inplace");
}

static at::Tensor swiglu_impl(const at::Tensor& gate, const at::Tensor& up) {
  const int64_t I = gate.size(-1);
  at::Tensor g2 = gate.reshape({-1, I}), u2 = up.reshape({-1, I});
  TORCH_CHECK(g2.stride(1) == 1 && u2.stride(1) == 1, "swiglu: last dims must be contiguous");
  std::vector<int64_t> shape(gate.sizes().begin(), gate.sizes().end());
  at::Tensor out = at::empty(shape, gate.options().memory_format(at::MemoryFormat::Contiguous));
  check(raw::swiglu(g2.data_ptr(), u2.data_ptr(), g2.stride(0), u2.stride(0), out.data_ptr(), g2.size(0),
                    static_cast<int>(I), dtype_code(gate, "swiglu"), stream()),
        "swiglu");
  return out;
}

at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up) {
  check_cuda(gate, "swiglu: gate");
  check_cuda(up, "swiglu: up");
  TORCH_CHECK(gate.sizes() == up.sizes() && gate.scalar_type() == up.scalar_type(), "swiglu: gate and up differ");
  c10::cuda::CUDAGuard guard(gate.device());
  return swiglu_impl(gate, up);
}

std::pair<at::Tensor, at::Tensor> sample_tokens(const at::Tensor& logits_in, double temperature, int64_t top_k,
                                                double top_p, double min_p, const at::Tensor& uniforms) {
  check_cuda(logits_in, "sample_tokens: logits");
  TORCH_CHECK(logits_in.dim() == 2, "sample_tokens: logits must be [B, V]");
  c10::cuda::CUDAGuard guard(logits_in.device());
  at::Tensor logits = logits_in.stride(1) == 1 ? logits_in : logits_in.contiguous();
  const int64_t B = logits.size(0), V = logits.size(1);
  TORCH_CHECK(uniforms.numel() == B, "sample_tokens: uniforms must be [B]");
  at::Tensor u = uniforms.to(logits.device(), at::kFloat).contiguous();
  at::Tensor tokens = at::empty({B}, logits.options().dtype(at::kLong));
  at::Tensor lp = at::empty({B}, logits.options().dtype(at::kFloat));
  const int k = top_k > 0 && top_k < V ? static_cast<int>(top_k) : 0;
  check(raw::sample_tokens(logits.data_ptr(), logits.stride(0), static_cast<int>(B), static_cast<int>(V),
                           static_cast<float>(temperature), k, static_cast<float>(top_p), static_cast<float>(min_p),
                           u.data_ptr<float>(), tokens.data_ptr<int64_t>(), lp.data_ptr<float>(),
                           dtype_code(logits, "sample_tokens"), stream()),
        "sample_tokens");
  return {tokens, lp};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> chunk_logprob_entropy(const at::Tensor& logits_in,
                                                                     const at::Tensor& targets) {
  check_cuda(logits_in, "chunk_logprob_entropy: logits");
  TORCH_CHECK(logits_in.dim() == 2, "chunk_logprob_entropy: logits must be [N, V]");
  c10::cuda::CUDAGuard guard(logits_in.device());
  at::Tensor logits = logits_in.stride(1) == 1 ? logits_in : logits_in.contiguous();
  const int64_t N = logits.size(0), V = logits.size(1);
  TORCH_CHECK(targets.numel() == N, "chunk_logprob_entropy: targets must be [N]");
  at::Tensor tg = targets.to(logits.device(), at::kLong).contiguous();
  auto fo = logits.options().dtype(at::kFloat);
  at::Tensor lp = at::empty({N}, fo), ent = at::empty({N}, fo), lse = at::empty({N}, fo);
  check(raw::logprob_entropy(logits.data_ptr(), logits.stride(0), tg.data_ptr<int64_t>(), N, static_cast<int>(V),
                             lp.data_ptr<float>(), ent.data_ptr<float>(), lse.data_ptr<float>(),
                             dtype_code(logits, "chunk_logprob_entropy"), stream()),
        "chunk_logprob_entropy");
  return {lp, ent, lse};
}

at::Tensor chunk_logprob_entropy_backward(const at::Tensor& logits_in, const at::Tensor& targets, const at::Tensor& lse,
                                          const at::Tensor& entropy, const at::Tensor& grad_logprob,
                                          const at::Tensor& grad_entropy) {
  check_cuda(logits_in, "chunk_logprob_entropy_backward: logits");
  c10::cuda::CUDAGuard guard(logits_in.device());
  at::Tensor logits = logits_in.stride(1) == 1 ? logits_in : logits_in.contiguous();
  const int64_t N = logits.size(0), V = logits.size(1);
  at::Tensor tg = targets.to(logits.device(), at::kLong).contiguous();
  at::Tensor l = lse.to(at::kFloat).contiguous(), e = entropy.to(at::kFloat).contiguous();
  at::Tensor glp = grad_logprob.defined() ? grad_logprob.to(at::kFloat).contiguous() : at::Tensor();
  at::Tensor gent = grad_entropy.defined() ? grad_entropy.to(at::kFloat).contiguous() : at::Tensor();
  at::Tensor grad = at::empty({N, V}, logits.options().memory_format(at::MemoryFormat::Contiguous));
  check(raw::logprob_entropy_backward(logits.data_ptr(), logits.stride(0), tg.data_ptr<int64_t>(), l.data_ptr<float>(),
                                      e.data_ptr<float>(), glp.defined() ? glp.data_ptr<float>() : nullptr,
                                      gent.defined() ? gent.data_ptr<float>() : nullptr, N, static_cast<int>(V),
                                      grad.data_ptr(), dtype_code(logits, "chunk_logprob_entropy_backward"), stream()),
        "chunk_logprob_entropy_backward");
  return grad;
}

double time_cuda_ms(const std::function<void()>& fn, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) fn();
  cudaStream_t s = stream();
  std::vector<float> ts;
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "cudaEventCreate");
  check(cudaEventCreate(&b), "cudaEventCreate");
  for (int i = 0; i < iters; ++i) {
    cudaEventRecord(a, s);
    fn();
    cudaEventRecord(b, s);
    check(cudaEventSynchronize(b), "cudaEventSynchronize");
    float ms = 0.f;
    cudaEventElapsedTime(&ms, a, b);
    ts.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ts.begin(), ts.end());
  return ts.empty() ? 0.0 : ts[ts.size() / 2];
}

}  // namespace cuda
}  // namespace gtr
#endif  // GTR_WITH_CUDA

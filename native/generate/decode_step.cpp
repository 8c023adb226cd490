// CUDA decode step of the rollout engine: see decode_step.h.
#include "generate/decode_step.h"
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include "cuda/dispatch.h"
#if defined(GTR_WITH_CUDA) && !defined(GTR_NO_CUDA_GRAPHS)
#define GTR_DECODE_GRAPHS 1
#include <cuda_runtime_api.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace gtr {

bool cuda_decode_available(const Qwen3Model& model) {
  return model.device().is_cuda() && kernels::cuda_kernels_enabled() &&
         (model.dtype() == at::kBFloat16 || model.dtype() == at::kFloat);
}

bool cuda_graphs_enabled() {
#ifdef GTR_DECODE_GRAPHS
  // Read per call (not cached) so a test can compare graph and eager runs in one process.
  const char* e = std::getenv("GTR_CUDA_GRAPHS");
  return !(e && (std::strcmp(e, "0") == 0 || std::strcmp(e, "off") == 0 || std::strcmp(e, "false") == 0));
#else
  return false;
#endif
}

#ifdef GTR_DECODE_GRAPHS
// After a capture threw: ends the stream's capture (a stream left capturing fails every later launch
// on it, so the eager fallback would fail too) and the caching allocator's routing of that stream's
// allocations into the graph pool `pool`. Best effort, never throws.
static void end_failed_capture(cudaStream_t s, at::cuda::CUDAGraph& graph, c10::DeviceIndex dev,
                               decltype(at::cuda::graph_pool_handle()) pool) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(s, &st) == cudaSuccess && st != cudaStreamCaptureStatusNone) {
    try {
      graph.capture_end();  // cudaStreamEndCapture + endAllocateToPool
      (void)cudaGetLastError();
      return;
    } catch (...) {
    }
    // capture_end threw (an invalidated capture): its cudaStreamEndCapture may not have run.
    if (cudaStreamIsCapturing(s, &st) == cudaSuccess && st != cudaStreamCaptureStatusNone) {
      cudaGraph_t partial = nullptr;
      if (cudaStreamEndCapture(s, &partial) == cudaSuccess && partial) cudaGraphDestroy(partial);
    }
  }
  try {
    c10::cuda::CUDACachingAllocator::endAllocateToPool(dev, pool);
  } catch (...) {
  }
  (void)cudaGetLastError();  // leave no error for the eager path's first launch check
}
#endif

struct CudaDecodeStep::Graph {
#ifdef GTR_DECODE_GRAPHS
  std::unique_ptr<at::cuda::CUDAGraph> graph;
#endif
  at::Tensor in;                // int64 [6 * Bb] on the device (static input)
  at::Tensor staged;            // int64 [6 * Bb] pinned host staging
  at::Tensor tokens, logprobs;  // static outputs
};

CudaDecodeStep::CudaDecodeStep(Qwen3Model& model, const DecodeStepCaches& caches, const SamplerOptions& sampler)
    : m_(model), c_(caches), s_(sampler) {}

CudaDecodeStep::~CudaDecodeStep() = default;

int64_t CudaDecodeStep::bucket(int64_t B) {
  if (B <= 32) {
    int64_t b = 1;
    while (b < B) b *= 2;
    return b;
  }
  return (B + 31) / 32 * 32;
}

at::Tensor CudaDecodeStep::forward(const at::Tensor& tok, const at::Tensor& pos, const at::Tensor& write,
                                   const at::Tensor& slot, const at::Tensor& len) {
  const Qwen3Config& cfg = m_.config();
  const int64_t B = tok.size(0), D = cfg.head_dim, nh = cfg.num_attention_heads, kv = cfg.num_key_value_heads;
  const double eps = cfg.rms_norm_eps, scale = 1.0 / std::sqrt(static_cast<double>(D));
  Rope rope = m_.rope(pos);
  at::Tensor residual = at::embedding(m_.embed_tokens(), tok).contiguous();  // [B, H]
  at::Tensor x, mlp;
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    const Qwen3Layer& L = m_.layer(l);
    if (l == 0) {
      x = kernels::rms_norm(residual, L.input_layernorm, eps);
    } else {
      kernels::fused_add_rms_norm(mlp, residual, L.input_layernorm, eps);  // residual += mlp; mlp = norm
      x = mlp;
    }
    // Biases (Qwen2, Llama attention_bias / mlp_bias) and LoRA adapters (applied unmerged: two thin
    // matmuls per target) ride on cuBLAS's linear; q/k RMSNorm only
    // where the architecture has it (Qwen3).
    at::Tensor q = m_.proj(x, L.q_proj, L.q_bias, L.lora_q).view({B, nh, D});
    at::Tensor k = m_.proj(x, L.k_proj, L.k_bias, L.lora_k).view({B, kv, D});
    at::Tensor v = m_.proj(x, L.v_proj, L.v_bias, L.lora_v).view({B, kv, D});
    if (cfg.qk_norm) {
      q = kernels::rms_norm(q, L.q_norm, eps);
      k = kernels::rms_norm(k, L.k_norm, eps);
    }
    q = q.contiguous();
    k = k.contiguous();
    std::tie(q, k) = kernels::rope(q, k, rope.cos, rope.sin);
    c_.krows[static_cast<size_t>(l)].index_copy_(0, write, k);
    c_.vrows[static_cast<size_t>(l)].index_copy_(0, write, v);
    at::Tensor a =
        kernels::decode_attention_paged(q.contiguous(), c_.k[static_cast<size_t>(l)], c_.v[static_cast<size_t>(l)],
                                        c_.block_table, slot, len, scale, c_.cache_len)
            .reshape({B, nh * D});
    at::Tensor o = m_.proj(a, L.o_proj, L.o_bias, L.lora_o).contiguous();
    kernels::fused_add_rms_norm(o, residual, L.post_attention_layernorm, eps);  // residual += o; o = norm
    at::Tensor act =
        kernels::swiglu(m_.proj(o, L.gate_proj, L.gate_bias, L.lora_gate), m_.proj(o, L.up_proj, L.up_bias, L.lora_up));
    mlp = m_.proj(act, L.down_proj, L.down_bias, L.lora_down).contiguous();
  }
  kernels::fused_add_rms_norm(mlp, residual, m_.final_norm(), eps);
  return mlp;
}

std::pair<at::Tensor, at::Tensor> CudaDecodeStep::sample(const at::Tensor& hidden, const at::Tensor& uniforms) {
  at::Tensor logits = at::linear(hidden, m_.lm_head());  // model dtype: the sampler reads bf16 directly
  if (!(s_.vocab > 0 && s_.vocab < logits.size(1)))
    return kernels::sample_tokens(logits, s_.temperature, s_.top_k, s_.top_p, s_.min_p, uniforms);
  // Padded vocabulary (sampler.h): draw from the first s_.vocab ids (a view, row stride kept), and
  // take the log-prob over every id, as the libtorch sampler and the trainer do (one more pass).
  auto r =
      kernels::sample_tokens(logits.narrow(1, 0, s_.vocab), s_.temperature, s_.top_k, s_.top_p, s_.min_p, uniforms);
  const double t = s_.temperature > 0.0 ? s_.temperature : 1.0;
  const at::Tensor z = t == 1.0 ? logits : logits.to(at::kFloat).div_(t);
  const at::Tensor full_lp = std::get<0>(kernels::chunk_logprob_entropy(z, r.first.clamp_min(0)));
  return {r.first, at::where(r.first >= 0, full_lp, r.second)};  // NaN rows keep token -1, log-prob NaN
}

std::pair<at::Tensor, at::Tensor> CudaDecodeStep::full_step(const at::Tensor& in, int64_t B) {
  at::Tensor tok = in.narrow(0, 0, B), pos = in.narrow(0, B, B), write = in.narrow(0, 2 * B, B),
             slot = in.narrow(0, 3 * B, B), len = in.narrow(0, 4 * B, B);
  at::Tensor u = in.narrow(0, 5 * B, B).to(at::kFloat) * (1.0 / 16777216.0);
  at::Tensor h = forward(tok, pos, write, slot, len);
  return sample(h, u);
}

std::pair<at::Tensor, at::Tensor> CudaDecodeStep::graph_step(const std::vector<int64_t>& packed, int64_t B) {
#ifdef GTR_DECODE_GRAPHS
  if (static_cast<int64_t>(packed.size()) != 6 * B) throw std::invalid_argument("graph_step: packed size");
  const int64_t Bb = bucket(B);
  auto it = graphs_.find(Bb);
  const bool fresh = it == graphs_.end();
  if (fresh) {
    auto g = std::make_unique<Graph>();
    g->in = at::empty({6 * Bb}, at::TensorOptions().dtype(at::kLong).device(m_.device()));
    g->staged = at::empty({6 * Bb}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
    it = graphs_.emplace(Bb, std::move(g)).first;
  }
  Graph& g = *it->second;
  // Stage: rows [0, B) from `packed`, padding rows [B, Bb) on the null table row, writing the
  // null block, length 1.
  int64_t* h = g.staged.data_ptr<int64_t>();
  for (int64_t f = 0; f < 6; ++f)
    for (int64_t r = 0; r < Bb; ++r) {
      int64_t v;
      if (r < B)
        v = packed[static_cast<size_t>(f * B + r)];
      else
        v = f == 3 ? c_.pad_slot : f == 4 ? 1 : 0;
      h[f * Bb + r] = v;
    }
  g.in.copy_(g.staged, /*non_blocking=*/true);
  if (fresh) {
    c10::cuda::CUDAGuard guard(m_.device());
    auto cur = c10::cuda::getCurrentCUDAStream();
    auto side = c10::cuda::getStreamFromPool();
    // side waits for cur (the staged input copy), cur later waits for side (raw events: no ATen
    // CUDA context headers needed here).
    cudaEvent_t ev = nullptr;
    TORCH_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) == cudaSuccess, "cudaEventCreate failed");
    TORCH_CHECK(
        cudaEventRecord(ev, cur.stream()) == cudaSuccess && cudaStreamWaitEvent(side.stream(), ev, 0) == cudaSuccess,
        "graph_step: stream sync failed");
    {
      c10::cuda::CUDAStreamGuard sg(side);
      // Warm-up on the capture stream (cuBLAS handles / workspaces): it computes this very step,
      // and the capture below records the same work again (K/V writes are idempotent).
      (void)full_step(g.in, Bb);
      auto pool = at::cuda::graph_pool_handle();  // one pool shared by every bucket's graph
      for (auto& kv : graphs_)
        if (kv.second->graph && kv.second.get() != &g) {
          pool = kv.second->graph->pool();
          break;
        }
      g.graph = std::make_unique<at::cuda::CUDAGraph>();
      try {
        g.graph->capture_begin(pool, cudaStreamCaptureModeThreadLocal);
        auto out = full_step(g.in, Bb);
        // Test hook (test/gpu-generate.test.ts): a capture that throws after work was recorded.
        if (const char* t = std::getenv("GTR_TEST_CAPTURE_THROW"); t && std::strcmp(t, "1") == 0)
          throw std::runtime_error("GTR_TEST_CAPTURE_THROW=1: capture aborted on purpose");
        g.graph->capture_end();
        g.tokens = out.first;
        g.logprobs = out.second;
      } catch (...) {
        end_failed_capture(side.stream(), *g.graph, m_.device().index(), pool);
        graphs_.erase(Bb);  // the caller falls back to the eager kernel path
        throw;
      }
    }
    TORCH_CHECK(
        cudaEventRecord(ev, side.stream()) == cudaSuccess && cudaStreamWaitEvent(cur.stream(), ev, 0) == cudaSuccess,
        "graph_step: stream sync failed");
    cudaEventDestroy(ev);
    ++captured_;
  }
  g.graph->replay();
  return {g.tokens.narrow(0, 0, B), g.logprobs.narrow(0, 0, B)};
#else
  (void)packed;
  (void)B;
  throw std::runtime_error("graph_step: this build has no CUDA graphs");
#endif
}

}  // namespace gtr

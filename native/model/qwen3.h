// The decoder-only causal LM of the Qwen3 / Qwen2 / Llama families on ATen, as Hugging Face
// transformers implements them (modeling_qwen3.py, modeling_qwen2.py, modeling_llama.py): token
// embeddings; per layer: RMSNorm -> q/k/v projections (+ biases) -> per-head q/k RMSNorm (Qwen3
// only) -> RoPE -> grouped-query causal attention -> o_proj residual; RMSNorm -> SwiGLU MLP
// residual; final RMSNorm; lm_head tied to the embeddings or not, as config says. The three
// architectures differ only in the switches of Qwen3Config (one model, a table of differences; the
// table per model_type lives in src/checkpoint/config.ts). The engine knows token ids only.
// Handled: fp32 and bf16, CPU and CUDA, packed batches of different lengths, RoPE default and
// llama3 scaling, LoRA adapters (PEFT layout) applied unmerged in every forward. Not handled:
// sliding-window attention, other RoPE scalings, MoE.
#pragma once
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gtr {

// RoPE frequency scaling (HF rope_parameters / rope_scaling). `llama3`: Llama 3.1's band-wise
// scaling of inv_freq (transformers modeling_rope_utils._compute_llama3_parameters).
struct RopeScaling {
  std::string type = "default";  // "default" or "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

// The model's hyper-parameters, and the switches in which Qwen3, Qwen2 and Llama differ:
//   qwen3: qk_norm, biases per attention_bias (q/k/v/o);  qwen2: q/k/v biases, no o bias, no qk_norm;
//   llama: no qk_norm, attention_bias (q/k/v/o), mlp_bias (gate/up/down), rope_scaling llama3.
struct Qwen3Config {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 1e6;
  bool tie_word_embeddings = true;
  int64_t max_position_embeddings = 0;
  bool qk_norm = true;    // per-head RMSNorm of q and k before RoPE (Qwen3)
  bool qkv_bias = false;  // biases on q_proj, k_proj, v_proj
  bool o_bias = false;    // bias on o_proj
  bool mlp_bias = false;  // biases on gate_proj, up_proj, down_proj
  RopeScaling rope_scaling;
  // Throws std::invalid_argument naming the first inconsistent field.
  void validate() const;
};

// One decoder layer's weights (HF names under model.layers.{i}.). Tensors share storage with the
// model's parameter list, so loading copies into them in place.
// A LoRA adapter of one linear layer (PEFT's lora_A / lora_B): y += scaling * B (A dropout(x)).
// A [r, in], B [out, r]; undefined when the layer is not a target.
struct LoraPair {
  at::Tensor A, B;
};

// LoRA settings (PEFT LoraConfig): rank, alpha (scaling = alpha / r), dropout on the adapter input
// (training forwards only), and the targeted projections by PEFT module name (q_proj, k_proj,
// v_proj, o_proj, gate_proj, up_proj, down_proj).
struct LoraConfig {
  int64_t r = 0;
  double alpha = 0;
  double dropout = 0;
  std::vector<std::string> targets;
  double scaling() const { return alpha / static_cast<double>(r); }
};

// Biases and q/k norms the architecture lacks are undefined tensors (at::linear skips them).
struct Qwen3Layer {
  at::Tensor input_layernorm, q_proj, k_proj, v_proj, o_proj, q_norm, k_norm;
  at::Tensor post_attention_layernorm, gate_proj, up_proj, down_proj;
  at::Tensor q_bias, k_bias, v_bias, o_bias, gate_bias, up_bias, down_bias;
  LoraPair lora_q, lora_k, lora_v, lora_o, lora_gate, lora_up, lora_down;
  // The defined tensors in a fixed order (for routing gradients through recomputed layers).
  std::vector<at::Tensor> tensors() const;
};

// Rotary tables for given positions: cos, sin of shape [T, head_dim] in float32.
struct Rope {
  at::Tensor cos, sin;
};

// x * rsqrt(mean(x^2) + eps) in float32, cast back, times weight (HF Qwen3RMSNorm).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// cos/sin for int64 positions [T] (HF RotaryEmbedding: default rope type, or llama3 scaling).
Rope rope_tables(const at::Tensor& positions, int64_t head_dim, double theta, const RopeScaling& scaling = {});
// Applies RoPE to x [T, heads, head_dim] (HF apply_rotary_pos_emb with rotate_half); result in x's dtype.
at::Tensor apply_rope(const at::Tensor& x, const Rope& rope);

class Qwen3Model {
 public:
  // Allocates (uninitialised) parameters on `device` in `dtype`.
  Qwen3Model(const Qwen3Config& cfg, at::Device device, at::ScalarType dtype);

  const Qwen3Config& config() const { return cfg_; }
  at::Device device() const { return device_; }
  at::ScalarType dtype() const { return dtype_; }

  // Parameters in HF names and order (lm_head.weight only when untied).
  std::vector<std::pair<std::string, at::Tensor>>& parameters() { return params_; }
  // The parameter named `name`; throws std::out_of_range naming it.
  at::Tensor& param(const std::string& name);
  int64_t num_parameters() const;

  // LoRA (PEFT layout): adds adapters to the targeted projections of every layer, A drawn as PEFT
  // does (kaiming-uniform, bound 1 / sqrt(in), from a CPU generator seeded `seed`) and B zero, in
  // the model dtype. From then on the forward adds the adapters, trainable() is the adapters only
  // and the base parameters stay frozen. Throws std::invalid_argument naming a bad field.
  void enable_lora(const LoraConfig& cfg, uint64_t seed);
  bool has_lora() const { return lora_.r > 0; }
  const LoraConfig& lora() const { return lora_; }
  // Adapters by name, `model.layers.{i}.self_attn.q_proj.lora_A.weight` (PEFT's names without the
  // `base_model.model.` prefix), empty without LoRA.
  std::vector<std::pair<std::string, at::Tensor>>& adapters() { return adapters_; }
  // What the trainer updates: the adapters with LoRA, else every parameter.
  std::vector<std::pair<std::string, at::Tensor>>& trainable() { return has_lora() ? adapters_ : params_; }
  // Folds the adapters into the base weights (W += scaling * B A, computed in float32) and removes
  // them (PEFT merge_and_unload).
  void merge_lora();
  // A linear layer with its bias and LoRA adapter (dropout only while grad mode is on).
  at::Tensor proj(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const LoraPair& l) const {
    at::Tensor y = at::linear(x, w, b);
    if (!l.A.defined()) return y;
    at::Tensor xd = lora_.dropout > 0 && at::GradMode::is_enabled() ? at::dropout(x, lora_.dropout, true) : x;
    return y + at::linear(at::linear(xd, l.A), l.B) * lora_.scaling();
  }
  // RoPE tables for int64 positions [T] with this model's theta and scaling.
  Rope rope(const at::Tensor& positions) const {
    return rope_tables(positions, cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling);
  }

  const at::Tensor& embed_tokens() const { return embed_; }
  const at::Tensor& final_norm() const { return norm_; }
  // lm_head weight [vocab, hidden]: the embedding matrix when tied.
  const at::Tensor& lm_head() const { return cfg_.tie_word_embeddings ? embed_ : lm_head_; }
  Qwen3Layer& layer(int64_t i) { return layers_.at(static_cast<size_t>(i)); }

  // HF-style init from a seed: normal(0, std) for embeddings and linears, ones for norms. Draws on
  // a CPU generator in float32, then casts, so the same seed gives the same weights on any device.
  void init_random(uint64_t seed, double std);

  // Packed causal forward. input_ids: int64 [T] on device, sequences laid end to end with lengths
  // seq_lens (sum T); positions restart at 0 for each sequence. Returns the final-normed hidden
  // states [T, hidden] in the model dtype. Differentiable when the parameters require grad;
  // with `checkpoint_layers`, each decoder layer recomputes its activations in backward.
  at::Tensor forward_hidden(const at::Tensor& input_ids, const std::vector<int64_t>& seq_lens,
                            bool checkpoint_layers = false);

  // One decoder layer on packed tokens: hidden [T, H] -> [T, H]. `attend(q, k, v)` maps
  // q [T, heads, D], k/v [T, kv_heads, D] (after norm and RoPE) to attention output [T, heads*D];
  // the KV-cache decoder passes its own.
  template <typename Attend>
  at::Tensor layer_forward(int64_t i, const at::Tensor& hidden, const Rope& rope, Attend&& attend);

  // Causal attention within each packed sequence (SDPA with GQA).
  at::Tensor packed_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const std::vector<int64_t>& seq_lens) const;

 private:
  Qwen3Config cfg_;
  at::Device device_;
  at::ScalarType dtype_;
  at::Tensor embed_, norm_, lm_head_;
  std::vector<Qwen3Layer> layers_;
  std::vector<std::pair<std::string, at::Tensor>> params_;
  LoraConfig lora_;
  std::vector<std::pair<std::string, at::Tensor>> adapters_;
};

template <typename Attend>
at::Tensor Qwen3Model::layer_forward(int64_t i, const at::Tensor& hidden, const Rope& rope, Attend&& attend) {
  const Qwen3Layer& L = layers_[static_cast<size_t>(i)];
  const int64_t T = hidden.size(0), D = cfg_.head_dim;
  at::Tensor h = rms_norm(hidden, L.input_layernorm, cfg_.rms_norm_eps);
  at::Tensor q = proj(h, L.q_proj, L.q_bias, L.lora_q).view({T, cfg_.num_attention_heads, D});
  at::Tensor k = proj(h, L.k_proj, L.k_bias, L.lora_k).view({T, cfg_.num_key_value_heads, D});
  at::Tensor v = proj(h, L.v_proj, L.v_bias, L.lora_v).view({T, cfg_.num_key_value_heads, D});
  if (cfg_.qk_norm) {
    q = rms_norm(q, L.q_norm, cfg_.rms_norm_eps);
    k = rms_norm(k, L.k_norm, cfg_.rms_norm_eps);
  }
  q = apply_rope(q, rope);
  k = apply_rope(k, rope);
  at::Tensor attn = attend(q, k, v);
  at::Tensor x = hidden + proj(attn, L.o_proj, L.o_bias, L.lora_o);
  h = rms_norm(x, L.post_attention_layernorm, cfg_.rms_norm_eps);
  at::Tensor mlp =
      proj(at::silu(proj(h, L.gate_proj, L.gate_bias, L.lora_gate)) * proj(h, L.up_proj, L.up_bias, L.lora_up),
           L.down_proj, L.down_bias, L.lora_down);
  return x + mlp;
}

// Log-probs of the next tokens from hidden states, in chunks of rows so the [T, vocab] logits never
// exist at once: hidden [T, H], targets int64 [T] -> float32 [T] with log softmax(h W^T)[target].
// No gradient (used for scoring and old / snapshot log-probs).
at::Tensor chunked_token_logprobs(const at::Tensor& hidden, const at::Tensor& lm_head, const at::Tensor& targets,
                                  int64_t chunk_rows = 1024);

}  // namespace gtr

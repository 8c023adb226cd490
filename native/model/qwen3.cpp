#include "model/qwen3.h"
#include <ATen/CPUGeneratorImpl.h>
#include <cmath>
#include <stdexcept>

namespace gtr {

void Qwen3Config::validate() const {
  auto positive = [](int64_t v, const char* name) {
    if (v <= 0)
      throw std::invalid_argument(std::string("config.") + name + " must be positive, got " + std::to_string(v));
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(num_key_value_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  if (head_dim % 2 != 0) throw std::invalid_argument("config.head_dim must be even for RoPE");
  if (num_attention_heads % num_key_value_heads != 0)
    throw std::invalid_argument("config.num_attention_heads must be a multiple of num_key_value_heads");
  if (!(rms_norm_eps > 0)) throw std::invalid_argument("config.rms_norm_eps must be positive");
  if (!(rope_theta > 0)) throw std::invalid_argument("config.rope_theta must be positive");
  if (rope_scaling.type == "llama3") {
    if (!(rope_scaling.factor > 0)) throw std::invalid_argument("config.rope_scaling.factor must be positive");
    if (!(rope_scaling.low_freq_factor > 0) || !(rope_scaling.high_freq_factor > rope_scaling.low_freq_factor))
      throw std::invalid_argument("config.rope_scaling: need 0 < low_freq_factor < high_freq_factor");
    if (rope_scaling.original_max_position_embeddings <= 0)
      throw std::invalid_argument("config.rope_scaling.original_max_position_embeddings must be positive");
  } else if (rope_scaling.type != "default") {
    throw std::invalid_argument("config.rope_scaling.rope_type \"" + rope_scaling.type +
                                "\" is not supported (supported: default, llama3)");
  }
}

std::vector<at::Tensor> Qwen3Layer::tensors() const {
  std::vector<at::Tensor> out;
  for (const at::Tensor* t :
       {&input_layernorm, &q_proj, &k_proj, &v_proj, &o_proj, &q_norm, &k_norm, &post_attention_layernorm, &gate_proj,
        &up_proj, &down_proj, &q_bias, &k_bias, &v_bias, &o_bias, &gate_bias, &up_bias, &down_bias})
    if (t->defined()) out.push_back(*t);
  for (const LoraPair* l : {&lora_q, &lora_k, &lora_v, &lora_o, &lora_gate, &lora_up, &lora_down})
    if (l->A.defined()) {
      out.push_back(l->A);
      out.push_back(l->B);
    }
  return out;
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor var = xf.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (xf * at::rsqrt(var + eps)).to(x.scalar_type());
}

Rope rope_tables(const at::Tensor& positions, int64_t head_dim, double theta, const RopeScaling& scaling) {
  auto fopt = at::TensorOptions().dtype(at::kFloat).device(positions.device());
  // inv_freq = 1 / theta^(2i / d), as HF computes it (int64 arange cast to float, then divided).
  at::Tensor exponent =
      at::arange(0, head_dim, 2, fopt.dtype(at::kLong)).to(at::kFloat) / static_cast<double>(head_dim);
  at::Tensor inv_freq = 1.0 / at::pow(theta, exponent);
  if (scaling.type == "llama3") {
    // transformers modeling_rope_utils._compute_llama3_parameters, op for op in float32: long
    // wavelengths divided by `factor`, short ones kept, the band between interpolated.
    const double factor = scaling.factor, lo = scaling.low_freq_factor, hi = scaling.high_freq_factor;
    const double old_len = static_cast<double>(scaling.original_max_position_embeddings);
    const double low_freq_wavelen = old_len / lo, high_freq_wavelen = old_len / hi;
    at::Tensor wavelen = 2 * M_PI / inv_freq;
    at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq);
    at::Tensor smooth = (old_len / wavelen - lo) / (hi - lo);
    at::Tensor smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
    at::Tensor medium = at::logical_not(wavelen < high_freq_wavelen) * at::logical_not(wavelen > low_freq_wavelen);
    inv_freq = at::where(medium, smoothed, scaled);
  }
  at::Tensor freqs = at::outer(positions.to(at::kFloat), inv_freq);  // [T, D/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);                      // [T, D]
  return {emb.cos(), emb.sin()};
}

at::Tensor apply_rope(const at::Tensor& x, const Rope& rope) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor cos = rope.cos.to(x.scalar_type()).unsqueeze(1);  // [T, 1, D]
  at::Tensor sin = rope.sin.to(x.scalar_type()).unsqueeze(1);
  at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

Qwen3Model::Qwen3Model(const Qwen3Config& cfg, at::Device device, at::ScalarType dtype)
    : cfg_(cfg), device_(device), dtype_(dtype) {
  cfg_.validate();
  auto opt = at::TensorOptions().dtype(dtype).device(device);
  const int64_t H = cfg_.hidden_size, D = cfg_.head_dim, I = cfg_.intermediate_size;
  const int64_t nq = cfg_.num_attention_heads * D, nkv = cfg_.num_key_value_heads * D;
  embed_ = at::empty({cfg_.vocab_size, H}, opt);
  params_.emplace_back("model.embed_tokens.weight", embed_);
  layers_.resize(static_cast<size_t>(cfg_.num_hidden_layers));
  for (int64_t i = 0; i < cfg_.num_hidden_layers; ++i) {
    Qwen3Layer& L = layers_[static_cast<size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    L.input_layernorm = at::empty({H}, opt);
    L.q_proj = at::empty({nq, H}, opt);
    L.k_proj = at::empty({nkv, H}, opt);
    L.v_proj = at::empty({nkv, H}, opt);
    L.o_proj = at::empty({H, nq}, opt);
    if (cfg_.qk_norm) {
      L.q_norm = at::empty({D}, opt);
      L.k_norm = at::empty({D}, opt);
    }
    L.post_attention_layernorm = at::empty({H}, opt);
    L.gate_proj = at::empty({I, H}, opt);
    L.up_proj = at::empty({I, H}, opt);
    L.down_proj = at::empty({H, I}, opt);
    if (cfg_.qkv_bias) {
      L.q_bias = at::empty({nq}, opt);
      L.k_bias = at::empty({nkv}, opt);
      L.v_bias = at::empty({nkv}, opt);
    }
    if (cfg_.o_bias) L.o_bias = at::empty({H}, opt);
    if (cfg_.mlp_bias) {
      L.gate_bias = at::empty({I}, opt);
      L.up_bias = at::empty({I}, opt);
      L.down_bias = at::empty({H}, opt);
    }
    // HF's state_dict order for the decoder layer (weight, then bias, per module).
    auto add = [&](const std::string& name, const at::Tensor& w, const at::Tensor& b) {
      params_.emplace_back(p + name + ".weight", w);
      if (b.defined()) params_.emplace_back(p + name + ".bias", b);
    };
    add("self_attn.q_proj", L.q_proj, L.q_bias);
    add("self_attn.k_proj", L.k_proj, L.k_bias);
    add("self_attn.v_proj", L.v_proj, L.v_bias);
    add("self_attn.o_proj", L.o_proj, L.o_bias);
    if (cfg_.qk_norm) {
      params_.emplace_back(p + "self_attn.q_norm.weight", L.q_norm);
      params_.emplace_back(p + "self_attn.k_norm.weight", L.k_norm);
    }
    add("mlp.gate_proj", L.gate_proj, L.gate_bias);
    add("mlp.up_proj", L.up_proj, L.up_bias);
    add("mlp.down_proj", L.down_proj, L.down_bias);
    params_.emplace_back(p + "input_layernorm.weight", L.input_layernorm);
    params_.emplace_back(p + "post_attention_layernorm.weight", L.post_attention_layernorm);
  }
  norm_ = at::empty({H}, opt);
  params_.emplace_back("model.norm.weight", norm_);
  if (!cfg_.tie_word_embeddings) {
    lm_head_ = at::empty({cfg_.vocab_size, H}, opt);
    params_.emplace_back("lm_head.weight", lm_head_);
  }
}

at::Tensor& Qwen3Model::param(const std::string& name) {
  for (auto& [n, t] : params_)
    if (n == name) return t;
  for (auto& [n, t] : adapters_)
    if (n == name) return t;
  throw std::out_of_range("no parameter named '" + name + "'");
}

int64_t Qwen3Model::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : params_) n += t.numel();
  return n;
}

void Qwen3Model::enable_lora(const LoraConfig& cfg, uint64_t seed) {
  if (has_lora()) throw std::invalid_argument("LoRA adapters are already enabled on this model");
  if (cfg.r <= 0) throw std::invalid_argument("lora.r must be a positive integer, got " + std::to_string(cfg.r));
  if (!(cfg.alpha > 0)) throw std::invalid_argument("lora.alpha must be positive");
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw std::invalid_argument("lora.dropout must be in [0, 1)");
  if (cfg.targets.empty()) throw std::invalid_argument("lora.target_modules must name at least one module");
  static const char* known[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  for (const std::string& t : cfg.targets) {
    bool ok = false;
    for (const char* k : known) ok = ok || t == k;
    if (!ok)
      throw std::invalid_argument("lora.target_modules: unknown module \"" + t +
                                  "\" (supported: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
  }
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto opt = at::TensorOptions().dtype(dtype_).device(device_);
  auto wants = [&](const char* m) {
    for (const std::string& t : cfg.targets)
      if (t == m) return true;
    return false;
  };
  for (int64_t i = 0; i < cfg_.num_hidden_layers; ++i) {
    Qwen3Layer& L = layers_[static_cast<size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    struct Target {
      const char* module;
      const char* name;
      const at::Tensor* w;
      LoraPair* lora;
    };
    const Target targets[] = {{"q_proj", "self_attn.q_proj", &L.q_proj, &L.lora_q},
                              {"k_proj", "self_attn.k_proj", &L.k_proj, &L.lora_k},
                              {"v_proj", "self_attn.v_proj", &L.v_proj, &L.lora_v},
                              {"o_proj", "self_attn.o_proj", &L.o_proj, &L.lora_o},
                              {"gate_proj", "mlp.gate_proj", &L.gate_proj, &L.lora_gate},
                              {"up_proj", "mlp.up_proj", &L.up_proj, &L.lora_up},
                              {"down_proj", "mlp.down_proj", &L.down_proj, &L.lora_down}};
    for (const Target& t : targets) {
      if (!wants(t.module)) continue;
      const int64_t out = t.w->size(0), in = t.w->size(1);
      // PEFT: nn.init.kaiming_uniform_(A, a=sqrt(5)) -> U(-1/sqrt(in), 1/sqrt(in)); B = 0.
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      at::Tensor a = at::empty({cfg.r, in}, at::TensorOptions().dtype(at::kFloat));
      a.uniform_(-bound, bound, gen);
      t.lora->A = a.to(opt);
      t.lora->B = at::zeros({out, cfg.r}, opt);
      adapters_.emplace_back(p + t.name + ".lora_A.weight", t.lora->A);
      adapters_.emplace_back(p + t.name + ".lora_B.weight", t.lora->B);
    }
  }
  lora_ = cfg;
}

void Qwen3Model::merge_lora() {
  if (!has_lora()) throw std::invalid_argument("merge_lora: the model has no LoRA adapters");
  at::NoGradGuard no_grad;
  const double s = lora_.scaling();
  for (Qwen3Layer& L : layers_) {
    std::pair<at::Tensor*, LoraPair*> pairs[] = {
        {&L.q_proj, &L.lora_q},       {&L.k_proj, &L.lora_k},   {&L.v_proj, &L.lora_v},      {&L.o_proj, &L.lora_o},
        {&L.gate_proj, &L.lora_gate}, {&L.up_proj, &L.lora_up}, {&L.down_proj, &L.lora_down}};
    for (auto& [w, l] : pairs) {
      if (!l->A.defined()) continue;
      at::Tensor delta = at::matmul(l->B.to(at::kFloat), l->A.to(at::kFloat)) * s;
      w->copy_(w->to(at::kFloat) + delta);  // in place: the parameter list shares this storage
      *l = LoraPair{};
    }
  }
  adapters_.clear();
  lora_ = LoraConfig{};
}

void Qwen3Model::init_random(uint64_t seed, double std) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& [name, t] : params_) {
    const bool is_norm = name.find("norm") != std::string::npos;
    const bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_norm) {
      t.fill_(1.0);
    } else if (is_bias) {
      t.zero_();  // HF's _init_weights zeroes nn.Linear biases
    } else {
      at::Tensor w = at::empty(t.sizes(), at::TensorOptions().dtype(at::kFloat));
      w.normal_(0.0, std, gen);
      t.copy_(w);
    }
  }
}

at::Tensor Qwen3Model::packed_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const std::vector<int64_t>& seq_lens) const {
  const int64_t T = q.size(0), nH = q.size(1), D = q.size(2);
  std::vector<at::Tensor> outs;
  outs.reserve(seq_lens.size());
  int64_t start = 0;
  for (int64_t len : seq_lens) {
    // [L, heads, D] -> [1, heads, L, D]
    at::Tensor qs = q.narrow(0, start, len).transpose(0, 1).unsqueeze(0);
    at::Tensor ks = k.narrow(0, start, len).transpose(0, 1).unsqueeze(0);
    at::Tensor vs = v.narrow(0, start, len).transpose(0, 1).unsqueeze(0);
    at::Tensor o = at::scaled_dot_product_attention(qs, ks, vs, /*attn_mask=*/{}, /*dropout_p=*/0.0,
                                                    /*is_causal=*/true, /*scale=*/std::nullopt,
                                                    /*enable_gqa=*/true);
    outs.push_back(o.squeeze(0).transpose(0, 1).reshape({len, nH * D}));
    start += len;
  }
  TORCH_CHECK(start == T, "sequence lengths sum to ", start, " but the batch has ", T, " tokens");
  return outs.size() == 1 ? outs[0] : at::cat(outs, 0);
}

at::Tensor Qwen3Model::forward_hidden(const at::Tensor& input_ids, const std::vector<int64_t>& seq_lens,
                                      bool checkpoint_layers) {
  TORCH_CHECK(!checkpoint_layers, "activation checkpointing is provided by the trainer (native/train)");
  TORCH_CHECK(input_ids.dim() == 1, "input_ids must be 1-D (packed)");
  std::vector<int64_t> pos;
  pos.reserve(static_cast<size_t>(input_ids.size(0)));
  for (int64_t len : seq_lens) {
    TORCH_CHECK(len > 0, "every sequence needs at least one token");
    for (int64_t j = 0; j < len; ++j) pos.push_back(j);
  }
  TORCH_CHECK(static_cast<int64_t>(pos.size()) == input_ids.size(0), "sequence lengths sum to ", pos.size(),
              " but the batch has ", input_ids.size(0), " tokens");
  at::Tensor positions = at::tensor(pos, at::TensorOptions().dtype(at::kLong)).to(device_);
  Rope rope = this->rope(positions);
  at::Tensor x = at::embedding(embed_, input_ids.to(device_));
  for (int64_t i = 0; i < cfg_.num_hidden_layers; ++i) {
    x = layer_forward(i, x, rope, [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
      return packed_attention(q, k, v, seq_lens);
    });
  }
  return rms_norm(x, norm_, cfg_.rms_norm_eps);
}

at::Tensor chunked_token_logprobs(const at::Tensor& hidden, const at::Tensor& lm_head, const at::Tensor& targets,
                                  int64_t chunk_rows) {
  at::NoGradGuard no_grad;
  const int64_t T = hidden.size(0);
  at::Tensor out = at::empty({T}, hidden.options().dtype(at::kFloat));
  for (int64_t s = 0; s < T; s += chunk_rows) {
    const int64_t n = std::min(chunk_rows, T - s);
    at::Tensor logits = at::linear(hidden.narrow(0, s, n), lm_head).to(at::kFloat);  // [n, V]
    at::Tensor lse = at::logsumexp(logits, -1);
    at::Tensor picked = logits.gather(1, targets.narrow(0, s, n).unsqueeze(1)).squeeze(1);
    out.narrow(0, s, n).copy_(picked - lse);
  }
  return out;
}

}  // namespace gtr

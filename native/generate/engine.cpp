#include "generate/engine.h"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <set>
#include <stdexcept>
#include "cuda/dispatch.h"
#include "generate/decode_attention.h"
#include "generate/decode_step.h"

namespace gtr {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct SeqState {
  int64_t prompt = 0, sample = 0;
  int64_t slot = -1;
  int64_t len = 0;       // tokens whose K/V are in the cache
  int64_t pending = -1;  // last sampled token, not yet in the cache (-1: none)
  bool done = false;
  Clock::time_point admitted;
};

struct PromptState {
  std::vector<int64_t> live_slots;  // slots whose positions [0, P) hold this prompt's K/V
  at::Tensor last_hidden;           // [H] final hidden state of the last prompt token
  int64_t waiting = 0;              // samples not yet admitted
  double prefill_ms = 0;
};

class Engine {
 public:
  Engine(Qwen3Model& model, const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& opt,
         const GenerateHooks& hooks)
      : m_(model), cfg_(model.config()), prompts_(prompts), opt_(opt), hooks_(hooks) {}

  GenerateOutput run();

 private:
  at::Tensor upload(const std::vector<int64_t>& host) const;
  void sync_device(const at::Tensor& t) const {
    if (t.is_cuda() && t.numel() > 0) (void)t.reshape({-1}).narrow(0, 0, 1).to(at::kCPU);
  }
  // Fills slots for the admitted sequences' prompts (prefill or sibling copy); returns their
  // last-prompt-token hidden states [R, H] in `admitted` order.
  at::Tensor admit(const std::vector<int64_t>& admitted);
  void prefill(const std::vector<int64_t>& prompt_ids, const std::vector<std::vector<int64_t>>& dest_slots);
  void copy_prompt_kv(const std::vector<int64_t>& src, const std::vector<int64_t>& dst, const std::vector<int64_t>& lens);
  // Row indices into a layer's cache viewed as [slots * kv * max_len, D], for (slot, pos) bases
  // slot * kv * max_len + pos (int64 [N] on device): [N * kv], head-major within each entry.
  at::Tensor flat_rows(const at::Tensor& bases) const;
  void release_slot(SeqState& s);

  Qwen3Model& m_;
  const Qwen3Config& cfg_;
  const std::vector<std::vector<int32_t>>& prompts_;
  const GenerateOptions& opt_;
  const GenerateHooks& hooks_;
  int64_t kv_ = 0, D_ = 0, max_len_ = 0, slots_ = 0;
  std::vector<at::Tensor> kc_, vc_, kflat_, vflat_;
  at::Tensor head_offsets_;  // int64 [kv] = h * max_len
  std::vector<SeqState> seqs_;
  std::vector<PromptState> pstate_;
  std::vector<SequenceResult> results_;
  std::vector<int64_t> slot_owner_;
  std::set<int64_t> free_slots_;
  GenerateStats stats_;
  // CUDA decode step (native/cuda kernels, CUDA graphs): see decode_step.h. Off on CPU.
  bool fast_ = false, graphs_ = false;
  DecodeStepCaches caches_;
  std::unique_ptr<CudaDecodeStep> step_;
  // GTR_GENERATE_PROFILE=1: device-synchronised per-phase wall times, printed to stderr at the end.
  bool profile_ = std::getenv("GTR_GENERATE_PROFILE") != nullptr;
  double prof_[5] = {0, 0, 0, 0, 0};
  Clock::time_point prof_t_;
  void mark(int phase, const at::Tensor& t) {
    if (!profile_) return;
    sync_device(t);
    const auto now = Clock::now();
    if (phase >= 0) prof_[phase] += std::chrono::duration<double, std::milli>(now - prof_t_).count();
    prof_t_ = now;
  }
};

at::Tensor Engine::upload(const std::vector<int64_t>& host) const {
  auto opt = at::TensorOptions().dtype(at::kLong);
  if (m_.device().is_cuda()) opt = opt.pinned_memory(true);
  at::Tensor h = at::empty({static_cast<int64_t>(host.size())}, opt);
  std::copy(host.begin(), host.end(), h.data_ptr<int64_t>());
  return m_.device().is_cuda() ? h.to(m_.device(), /*non_blocking=*/true) : h;
}

at::Tensor Engine::flat_rows(const at::Tensor& bases) const {
  return (bases.unsqueeze(1) + head_offsets_.unsqueeze(0)).reshape({-1});
}

void Engine::prefill(const std::vector<int64_t>& prompt_ids, const std::vector<std::vector<int64_t>>& dest_slots) {
  const auto t0 = Clock::now();
  std::vector<int64_t> ids, pos, lens, last, src_tok, dst_base;
  for (size_t j = 0; j < prompt_ids.size(); ++j) {
    const auto& p = prompts_[static_cast<size_t>(prompt_ids[j])];
    const int64_t start = static_cast<int64_t>(ids.size()), P = static_cast<int64_t>(p.size());
    for (int64_t t = 0; t < P; ++t) {
      ids.push_back(p[static_cast<size_t>(t)]);
      pos.push_back(t);
    }
    lens.push_back(P);
    last.push_back(start + P - 1);
    for (int64_t slot : dest_slots[j])
      for (int64_t t = 0; t < P; ++t) {
        src_tok.push_back(start + t);
        dst_base.push_back(slot * kv_ * max_len_ + t);
      }
  }
  const int64_t T = static_cast<int64_t>(ids.size()), N = static_cast<int64_t>(src_tok.size());
  std::vector<int64_t> pack = ids;
  pack.insert(pack.end(), pos.begin(), pos.end());
  pack.insert(pack.end(), last.begin(), last.end());
  pack.insert(pack.end(), src_tok.begin(), src_tok.end());
  pack.insert(pack.end(), dst_base.begin(), dst_base.end());
  at::Tensor dev = upload(pack);
  const int64_t C = static_cast<int64_t>(last.size());
  at::Tensor ids_d = dev.narrow(0, 0, T), pos_d = dev.narrow(0, T, T), last_d = dev.narrow(0, 2 * T, C);
  at::Tensor src_d = dev.narrow(0, 2 * T + C, N), rows = flat_rows(dev.narrow(0, 2 * T + C + N, N));
  const bool same_rows = N == T;  // one destination slot per prompt: no gather of K/V rows needed
  const bool all_same = std::all_of(lens.begin(), lens.end(), [&](int64_t l) { return l == lens[0]; });
  Rope rope = rope_tables(pos_d, D_, cfg_.rope_theta);
  at::Tensor x = at::embedding(m_.embed_tokens(), ids_d);
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    x = m_.layer_forward(l, x, rope, [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
      at::Tensor ks = same_rows ? k : k.index_select(0, src_d);
      at::Tensor vs = same_rows ? v : v.index_select(0, src_d);
      kflat_[l].index_copy_(0, rows, ks.reshape({N * kv_, D_}));
      vflat_[l].index_copy_(0, rows, vs.reshape({N * kv_, D_}));
      if (C > 1 && all_same) {  // equal-length prompts: one batched causal SDPA instead of C calls
        const int64_t L = lens[0], H = q.size(1);
        auto bt = [&](const at::Tensor& t) { return t.view({C, L, t.size(1), D_}).transpose(1, 2); };
        at::Tensor o = at::scaled_dot_product_attention(bt(q), bt(k), bt(v), {}, 0.0, /*is_causal=*/true,
                                                        std::nullopt, /*enable_gqa=*/true);
        return o.transpose(1, 2).reshape({T, H * D_});
      }
      return m_.packed_attention(q, k, v, lens);
    });
  }
  at::Tensor h = rms_norm(x.index_select(0, last_d), m_.final_norm(), cfg_.rms_norm_eps);  // [C, H]
  sync_device(h);
  const double ms = ms_since(t0);
  stats_.prefill_ms += ms;
  stats_.prefill_tokens += T;
  stats_.prompt_prefills += C;
  for (int64_t j = 0; j < C; ++j) {
    PromptState& ps = pstate_[static_cast<size_t>(prompt_ids[static_cast<size_t>(j)])];
    ps.last_hidden = h.select(0, j);
    ps.prefill_ms = ms;
  }
}

void Engine::copy_prompt_kv(const std::vector<int64_t>& src, const std::vector<int64_t>& dst,
                            const std::vector<int64_t>& lens) {
  std::vector<int64_t> pack;
  for (size_t i = 0; i < src.size(); ++i)
    for (int64_t t = 0; t < lens[i]; ++t) pack.push_back(src[i] * kv_ * max_len_ + t);
  const int64_t N = static_cast<int64_t>(pack.size());
  for (size_t i = 0; i < dst.size(); ++i)
    for (int64_t t = 0; t < lens[i]; ++t) pack.push_back(dst[i] * kv_ * max_len_ + t);
  at::Tensor dev = upload(pack);
  at::Tensor from = flat_rows(dev.narrow(0, 0, N)), to = flat_rows(dev.narrow(0, N, N));
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    kflat_[l].index_copy_(0, to, kflat_[l].index_select(0, from));
    vflat_[l].index_copy_(0, to, vflat_[l].index_select(0, from));
  }
}

at::Tensor Engine::admit(const std::vector<int64_t>& admitted) {
  std::vector<int64_t> pf_prompts;
  std::vector<std::vector<int64_t>> pf_dest;
  std::vector<int64_t> cp_src, cp_dst, cp_len;
  std::vector<int64_t> pf_index(pstate_.size(), -1);
  for (int64_t s : admitted) {
    SeqState& st = seqs_[static_cast<size_t>(s)];
    PromptState& ps = pstate_[static_cast<size_t>(st.prompt)];
    const int64_t P = static_cast<int64_t>(prompts_[static_cast<size_t>(st.prompt)].size());
    if (pf_index[st.prompt] >= 0) {
      pf_dest[static_cast<size_t>(pf_index[st.prompt])].push_back(st.slot);
    } else if (!ps.live_slots.empty() && ps.last_hidden.defined()) {
      cp_src.push_back(ps.live_slots.front());
      cp_dst.push_back(st.slot);
      cp_len.push_back(P);
    } else {
      pf_index[st.prompt] = static_cast<int64_t>(pf_prompts.size());
      pf_prompts.push_back(st.prompt);
      pf_dest.push_back({st.slot});
    }
  }
  // Packed prefill passes within the token budget (a longer prompt gets a pass of its own).
  for (size_t i = 0; i < pf_prompts.size();) {
    size_t j = i;
    int64_t tokens = 0;
    while (j < pf_prompts.size()) {
      const int64_t P = static_cast<int64_t>(prompts_[static_cast<size_t>(pf_prompts[j])].size());
      if (j > i && tokens + P > opt_.prefill_tokens) break;
      tokens += P;
      ++j;
    }
    prefill(std::vector<int64_t>(pf_prompts.begin() + i, pf_prompts.begin() + j),
            std::vector<std::vector<int64_t>>(pf_dest.begin() + i, pf_dest.begin() + j));
    i = j;
  }
  if (!cp_src.empty()) copy_prompt_kv(cp_src, cp_dst, cp_len);
  std::vector<at::Tensor> rows;
  for (int64_t s : admitted) {
    SeqState& st = seqs_[static_cast<size_t>(s)];
    PromptState& ps = pstate_[static_cast<size_t>(st.prompt)];
    rows.push_back(ps.last_hidden);
    ps.live_slots.push_back(st.slot);
    SequenceResult& r = results_[static_cast<size_t>(s)];
    r.prefill_ms = pf_index[st.prompt] >= 0 ? ps.prefill_ms : 0.0;
  }
  for (int64_t s : admitted) {
    PromptState& ps = pstate_[static_cast<size_t>(seqs_[static_cast<size_t>(s)].prompt)];
    if (--ps.waiting == 0) ps.last_hidden = at::Tensor();  // every sample admitted: drop it
  }
  return at::stack(rows, 0);
}

void Engine::release_slot(SeqState& s) {
  auto& live = pstate_[static_cast<size_t>(s.prompt)].live_slots;
  live.erase(std::find(live.begin(), live.end(), s.slot));
  slot_owner_[static_cast<size_t>(s.slot)] = -1;
  free_slots_.insert(s.slot);
  s.slot = -1;
}

GenerateOutput Engine::run() {
  const auto t_start = Clock::now();
  const int64_t nprompts = static_cast<int64_t>(prompts_.size()), total = nprompts * opt_.n;
  if (total == 0) return {};
  kv_ = cfg_.num_key_value_heads;
  D_ = cfg_.head_dim;
  int64_t max_prompt = 0;
  for (const auto& p : prompts_) {
    if (p.empty()) throw std::invalid_argument("empty prompt");
    for (int32_t t : p)
      if (t < 0 || t >= cfg_.vocab_size) throw std::invalid_argument("token id outside the vocabulary");
    max_prompt = std::max<int64_t>(max_prompt, static_cast<int64_t>(p.size()));
  }
  max_len_ = max_prompt + opt_.max_new_tokens - 1;
  slots_ = opt_.max_batch > 0 ? std::min(opt_.max_batch, total) : std::min<int64_t>(total, 256);
  stats_.slots = slots_;
  stats_.max_len = max_len_;
  auto copt = at::TensorOptions().dtype(m_.dtype()).device(m_.device());
  fast_ = cuda_decode_available(m_) && !opt_.return_logits;
  graphs_ = fast_ && cuda_graphs_enabled();
  const int64_t cache_slots = slots_ + (fast_ ? 1 : 0);  // CUDA: one scratch slot for graph padding rows
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    if (hooks_.cancelled && hooks_.cancelled()) throw std::runtime_error("generation cancelled");
    kc_.push_back(at::zeros({cache_slots, kv_, max_len_, D_}, copt));
    vc_.push_back(at::zeros({cache_slots, kv_, max_len_, D_}, copt));
    kflat_.push_back(kc_.back().view({-1, D_}));
    vflat_.push_back(vc_.back().view({-1, D_}));
  }
  head_offsets_ = at::arange(kv_, copt.dtype(at::kLong)) * max_len_;
  if (fast_) {
    caches_ = DecodeStepCaches{kc_, vc_, kflat_, vflat_, head_offsets_, max_len_, slots_};
    step_ = std::make_unique<CudaDecodeStep>(m_, caches_, opt_.sampler);
  }
  std::set<int64_t> stop(opt_.stop_token_ids.begin(), opt_.stop_token_ids.end());

  seqs_.resize(static_cast<size_t>(total));
  results_.resize(static_cast<size_t>(total));
  pstate_.resize(static_cast<size_t>(nprompts));
  std::deque<int64_t> waiting;
  for (int64_t i = 0; i < total; ++i) {
    seqs_[i].prompt = results_[i].prompt = i / opt_.n;
    seqs_[i].sample = results_[i].sample = i % opt_.n;
    pstate_[static_cast<size_t>(i / opt_.n)].waiting++;
    waiting.push_back(i);
  }
  slot_owner_.assign(static_cast<size_t>(slots_), -1);
  for (int64_t s = 0; s < slots_; ++s) free_slots_.insert(s);

  int64_t finished = 0;
  auto last_report = Clock::now();
  const at::Tensor& lm_head = m_.lm_head();
  while (finished < total) {
    if (hooks_.cancelled && hooks_.cancelled()) throw std::runtime_error("generation cancelled");
    // 1. Admission: waiting sequences take the lowest free slots; their prompts are filled in.
    std::vector<int64_t> admitted;
    while (!free_slots_.empty() && !waiting.empty()) {
      const int64_t s = waiting.front(), slot = *free_slots_.begin();
      waiting.pop_front();
      free_slots_.erase(free_slots_.begin());
      seqs_[s].slot = slot;
      seqs_[s].admitted = Clock::now();
      slot_owner_[static_cast<size_t>(slot)] = s;
      admitted.push_back(s);
    }
    at::Tensor new_hidden = admitted.empty() ? at::Tensor() : admit(admitted);
    const auto t_step = Clock::now();
    // 2. One packed upload: decode rows' tokens, positions, slots, lengths, span lengths, uniforms.
    std::vector<int64_t> dec;
    for (int64_t slot = 0; slot < slots_; ++slot) {
      const int64_t s = slot_owner_[static_cast<size_t>(slot)];
      if (s >= 0 && seqs_[s].pending >= 0) dec.push_back(s);
    }
    const int64_t R = static_cast<int64_t>(admitted.size()), B = static_cast<int64_t>(dec.size());
    const int64_t span = B > 0 ? seqs_[dec.back()].slot + 1 : 0;
    std::vector<int64_t> pack(static_cast<size_t>(4 * B + span + R + B), 0);
    std::vector<int64_t> slot_h(B), len_h(B);
    for (int64_t b = 0; b < B; ++b) {
      const SeqState& st = seqs_[dec[b]];
      pack[b] = st.pending;
      pack[B + b] = st.len;
      pack[2 * B + b] = slot_h[b] = st.slot;
      pack[3 * B + b] = len_h[b] = st.len + 1;
    }
    for (int64_t i = 0; i < span; ++i) pack[4 * B + i] = 1;
    for (int64_t b = 0; b < B; ++b) pack[4 * B + slot_h[b]] = len_h[b];
    std::vector<int64_t> rows(admitted);
    rows.insert(rows.end(), dec.begin(), dec.end());
    for (int64_t r = 0; r < R + B; ++r) {
      const SeqState& st = seqs_[rows[r]];
      pack[4 * B + span + r] = sequence_uniform24(opt_.seed, st.prompt, st.sample,
                                                  static_cast<int64_t>(results_[rows[r]].tokens.size()));
    }
    SampleOut so;
    at::Tensor logits;
    if (graphs_ && R == 0 && B > 0) {
      // Whole step through the CUDA graph of B's bucket: tokens, positions, slots, lengths, uniforms.
      std::vector<int64_t> gp(static_cast<size_t>(5 * B));
      for (int64_t i = 0; i < 4 * B; ++i) gp[static_cast<size_t>(i)] = pack[static_cast<size_t>(i)];
      for (int64_t b = 0; b < B; ++b) gp[static_cast<size_t>(4 * B + b)] = pack[static_cast<size_t>(4 * B + span + b)];
      try {
        auto r = step_->graph_step(gp, B);
        stats_.graph_steps++;
        so.tokens = r.first;
        so.logprobs = r.second;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "gtr generate: CUDA graph capture failed (%s); eager kernels from now on\n", e.what());
        graphs_ = false;
      }
      mark(0, so.logprobs.defined() ? so.logprobs : head_offsets_);
    }
    if (!so.tokens.defined() && fast_) {
      at::Tensor dev = upload(pack);
      mark(-1, dev);
      at::Tensor hidden = new_hidden;
      if (B > 0) {
        at::Tensor h = step_->forward(dev.narrow(0, 0, B), dev.narrow(0, B, B), dev.narrow(0, 2 * B, B),
                                      dev.narrow(0, 3 * B, B));
        hidden = hidden.defined() ? at::cat({hidden, h}, 0) : h;
      }
      mark(0, hidden);
      at::Tensor uniforms = dev.narrow(0, 4 * B + span, R + B).to(at::kFloat) * (1.0 / 16777216.0);
      auto r = step_->sample(hidden, uniforms);
      so.tokens = r.first;
      so.logprobs = r.second;
      mark(2, so.logprobs);
    }
    if (!so.tokens.defined()) {
      at::Tensor dev = upload(pack);
      mark(-1, dev);
      // 3. Decode forward over the active slots.
      at::Tensor hidden = new_hidden;
      if (B > 0) {
        at::Tensor tok_d = dev.narrow(0, 0, B), pos_d = dev.narrow(0, B, B);
        at::Tensor slot_d = dev.narrow(0, 2 * B, B), len_d = dev.narrow(0, 3 * B, B);
        DecodeAttentionPlan plan = make_decode_plan(slot_h, len_h, slot_d, len_d, dev.narrow(0, 4 * B, span), max_len_);
        at::Tensor write_rows = flat_rows(slot_d * (kv_ * max_len_) + pos_d);
        Rope rope = rope_tables(pos_d, D_, cfg_.rope_theta);
        const auto t_enqueue = Clock::now();
        at::Tensor x = at::embedding(m_.embed_tokens(), tok_d);
        for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
          x = m_.layer_forward(l, x, rope, [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
            kflat_[l].index_copy_(0, write_rows, k.reshape({B * kv_, D_}));
            vflat_[l].index_copy_(0, write_rows, v.reshape({B * kv_, D_}));
            return decode_attention(q, kc_[l], vc_[l], plan);
          });
        }
        at::Tensor h = rms_norm(x, m_.final_norm(), cfg_.rms_norm_eps);
        if (profile_) prof_[4] += ms_since(t_enqueue);
        hidden = hidden.defined() ? at::cat({hidden, h}, 0) : h;
      }
      mark(0, hidden);
      // 4. Sample every row of this step; one device -> host copy of tokens and log-probs.
      logits = at::linear(hidden, lm_head).to(at::kFloat);
      mark(1, logits);
      at::Tensor uniforms = dev.narrow(0, 4 * B + span, R + B).to(at::kFloat) * (1.0 / 16777216.0);
      so = sample_tokens(logits, opt_.sampler, uniforms);
      mark(2, so.logprobs);
    }
    at::Tensor host = at::stack({so.tokens.to(at::kFloat), so.logprobs}, 0).to(at::kCPU).contiguous();
    at::Tensor logits_host = opt_.return_logits ? logits.to(at::kCPU).contiguous() : at::Tensor();
    const float* hp = host.data_ptr<float>();
    mark(3, host);
    stats_.decode_ms += ms_since(t_step);
    stats_.steps++;
    // 5. Bookkeeping on the host: append, detect stops, free slots.
    for (int64_t r = 0; r < R + B; ++r) {
      SeqState& st = seqs_[rows[r]];
      SequenceResult& res = results_[rows[r]];
      const int64_t tok = static_cast<int64_t>(hp[r]);
      res.tokens.push_back(static_cast<int32_t>(tok));
      res.logprobs.push_back(hp[R + B + r]);
      if (opt_.return_logits) {
        const float* lr = logits_host.data_ptr<float>() + r * cfg_.vocab_size;
        res.logits.insert(res.logits.end(), lr, lr + cfg_.vocab_size);
      }
      st.len = r < R ? static_cast<int64_t>(prompts_[st.prompt].size()) : st.len + 1;
      stats_.generated_tokens++;
      const bool stopped = stop.count(tok) > 0;
      if (stopped || static_cast<int64_t>(res.tokens.size()) >= opt_.max_new_tokens) {
        st.done = true;
        st.pending = -1;
        res.stopped = stopped;
        res.decode_ms = ms_since(st.admitted);
        release_slot(st);
        ++finished;
      } else {
        st.pending = tok;
      }
    }
    if (hooks_.progress && (finished == total || ms_since(last_report) >= 100.0)) {
      hooks_.progress({finished, total, stats_.generated_tokens});
      last_report = Clock::now();
    }
  }
  stats_.wall_ms = ms_since(t_start);
  stats_.cuda_kernels = fast_;
  if (step_) stats_.graphs = step_->graphs_captured();
  if (profile_)
    std::fprintf(stderr, "gtr generate profile (ms): decode forward %.1f (host enqueue %.1f), lm_head %.1f, sampler %.1f, copy %.1f; prefill %.1f; steps %lld\n",
                 prof_[0], prof_[4], prof_[1], prof_[2], prof_[3], stats_.prefill_ms, static_cast<long long>(stats_.steps));
  GenerateOutput out;
  out.sequences = std::move(results_);
  out.stats = stats_;
  return out;
}

}  // namespace

GenerateOutput run_generate(Qwen3Model& model, const std::vector<std::vector<int32_t>>& prompts,
                            const GenerateOptions& opt, const GenerateHooks& hooks) {
  if (opt.n < 1) throw std::invalid_argument("n must be >= 1");
  if (opt.max_new_tokens < 1) throw std::invalid_argument("maxNewTokens must be >= 1");
  at::NoGradGuard no_grad;
  Engine e(model, prompts, opt, hooks);
  return e.run();
}

}  // namespace gtr

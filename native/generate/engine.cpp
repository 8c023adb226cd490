// The rollout engine: see engine.h for the design (paged KV pool, schedule / run / postprocess).
#include "generate/engine.h"
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <set>
#include <stdexcept>
#include "core/memory.h"
#include "cuda/dispatch.h"
#include "generate/block_manager.h"
#include "ops/decode_attention.h"
#include "generate/decode_step.h"

namespace gtr {

int64_t kv_block_bytes(const Qwen3Model& model, int64_t block_size) {
  const Qwen3Config& c = model.config();
  return c.num_hidden_layers * 2 * block_size * c.num_key_value_heads * c.head_dim *
         static_cast<int64_t>(c10::elementSize(model.dtype()));
}

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr double kGiB = 1073741824.0;

enum class SeqState { Waiting, Running, Done };

struct Seq {
  int64_t prompt = 0, sample = 0;
  SeqState state = SeqState::Waiting;
  int64_t slot = -1;            // block-table row while running
  int64_t len = 0;              // tokens whose K/V are in the pool
  int64_t pending = -1;         // last sampled token, not yet in the pool (-1: none)
  std::vector<int32_t> blocks;  // block table: logical block i -> pool block
  bool started = false;         // admitted at least once (a later admission is a resume)
  Clock::time_point admitted;
};

// The n samples of one prompt. While some were never admitted, the group holds references to the
// prompt's full blocks and a copy of its partial last block, and the last hidden state.
struct Group {
  int64_t unadmitted = 0;
  std::vector<int32_t> held;  // full prompt blocks, then the partial block's copy (if any)
  int32_t tail_copy = 0;      // the group's copy of the partial block; 0 = none
  bool tail_pending = false;  // first admitted this step; the copy is allocated if samples remain
  at::Tensor last_hidden;     // [H]
  double prefill_ms = 0;
  bool prefilled = false;
};

// What schedule() decided for one step.
struct StepPlan {
  enum class Kind { FirstOfGroup, LaterSample, Resume };
  struct Admission {
    int64_t seq;
    Kind kind;
  };
  std::vector<Admission> admitted;  // in admission order: the first R rows of the step
  std::vector<int64_t> decode;      // running sequences decoding this step, by sequence index
};

class Engine {
 public:
  Engine(Qwen3Model& model, const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& opt,
         const GenerateHooks& hooks)
      : m_(model), cfg_(model.config()), prompts_(prompts), opt_(opt), hooks_(hooks) {}

  GenerateOutput run();

 private:
  // -- set-up
  void validate();
  void allocate_pool();
  // -- the three phases of a step
  StepPlan schedule();
  SampleOut run_step(const StepPlan& plan, at::Tensor& logits);
  void postprocess(const StepPlan& plan, const SampleOut& so, const at::Tensor& logits);
  // -- scheduling helpers (host only)
  int64_t blocks_to_admit(int64_t s) const;
  void admit(int64_t s, StepPlan& plan);
  void preempt(int64_t s);
  int64_t pick_victim(const std::vector<int64_t>& candidates) const;
  int64_t reserve_blocks() const;
  int64_t reserve_of(int64_t s) const;
  void assign_block(Seq& q, int32_t b);
  void release(Seq& q);
  void check_blocks() const;
  // -- device work
  at::Tensor upload(const std::vector<int64_t>& host) const;
  void sync_device(const at::Tensor& t) const {
    if (t.is_cuda() && t.numel() > 0) (void)t.reshape({-1}).narrow(0, 0, 1).to(at::kCPU);
  }
  at::Tensor admit_rows(const StepPlan& plan);
  void release_admitted_groups(const StepPlan& plan);
  struct PrefillItem {
    std::vector<int32_t> tokens;
    std::vector<std::pair<const std::vector<int32_t>*, int64_t>> dests;  // (block table, first position written)
    int64_t group = -1;  // group whose last hidden state this item produces, or
    int64_t seq = -1;    // the resumed sequence whose next token it samples
  };
  void prefill(std::vector<PrefillItem>& items, std::vector<at::Tensor>& resume_hidden);
  void copy_tails(const std::vector<int64_t>& later);
  at::Tensor decode_forward(const std::vector<int64_t>& rows, const at::Tensor& dev);
  int64_t token_row(const Seq& q, int64_t pos) const {
    return static_cast<int64_t>(q.blocks[static_cast<size_t>(pos / bs_)]) * bs_ + pos % bs_;
  }
  bool stop_string_hit(int64_t s, int32_t tok);

  Qwen3Model& m_;
  const Qwen3Config& cfg_;
  const std::vector<std::vector<int32_t>>& prompts_;
  const GenerateOptions& opt_;
  SamplerOptions sampler_;  // opt_.sampler (vocab 0 when it covers the whole embedding; validate())
  const GenerateHooks& hooks_;
  int64_t kv_ = 0, D_ = 0, bs_ = 32, cache_len_ = 0, width_ = 0, slots_ = 0, total_ = 0;
  std::unique_ptr<BlockManager> bm_;
  at::Tensor pool_;                        // [layers, 2, blocks, bs, kv, D]
  memory::Tracked pool_mem_;               // the pool in the memory report's kv_pool, with its blocks in use
  std::vector<at::Tensor> kp_, vp_;        // per layer [blocks, bs, kv, D]
  std::vector<at::Tensor> krows_, vrows_;  // per layer [blocks * bs, kv, D] (token rows)
  at::Tensor table_;                       // int32 [slots + 1, width] on the device (row `slots` = padding, all null)
  std::vector<int64_t> table_delta_;       // (row * width + col, block) pairs not yet on the device
  std::vector<Seq> seqs_;
  std::vector<Group> groups_;
  std::vector<SequenceResult> results_;
  std::deque<int64_t> waiting_;
  std::vector<int64_t> running_;  // sequence ids, kept sorted
  std::set<int64_t> free_slots_;
  std::vector<std::string> text_;  // per sequence: generated bytes (only with stop strings)
  size_t longest_stop_ = 0;
  std::set<int64_t> stop_ids_;
  double rho_ = 0.7;  // expected fraction of max_new_tokens still to come (SGLang)
  int64_t finished_ = 0;
  GenerateStats stats_;
  bool check_ = false;
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

// ------------------------------------------------------------------------------------------ set-up

void Engine::validate() {
  bs_ = opt_.block_size;
  if (bs_ < 1 || bs_ > 1024 || (bs_ & (bs_ - 1)) != 0)
    throw std::invalid_argument("generate: blockSize must be a power of two in [1, 1024], got " + std::to_string(bs_));
  int64_t max_prompt = 0;
  for (const auto& p : prompts_) {
    if (p.empty()) throw std::invalid_argument("empty prompt");
    for (int32_t t : p)
      if (t < 0 || t >= cfg_.vocab_size) throw std::invalid_argument("token id outside the vocabulary");
    max_prompt = std::max<int64_t>(max_prompt, static_cast<int64_t>(p.size()));
  }
  // Positions written are < longest prompt + max_new_tokens - 1 (the last token is never fed back).
  cache_len_ = max_prompt + opt_.max_new_tokens - 1;
  width_ = ceil_div(max_prompt + opt_.max_new_tokens, bs_);
  if (!opt_.target_lengths.empty()) {
    if (static_cast<int64_t>(opt_.target_lengths.size()) != static_cast<int64_t>(prompts_.size()) * opt_.n)
      throw std::invalid_argument("generate: targetLengths must hold prompts x n entries");
    for (int64_t t : opt_.target_lengths)
      if (t < 1 || t > opt_.max_new_tokens)
        throw std::invalid_argument("generate: targetLengths entries must be in [1, maxNewTokens]");
  }
  if (!opt_.stop_strings.empty() && !opt_.token_bytes)
    throw std::invalid_argument("generate: stop strings need the tokenizer's token bytes");
  // Ids past the tokenizer's (a padded embedding; opt_.sampler.vocab) are never sampled (sampler.h).
  sampler_ = opt_.sampler;
  if (sampler_.vocab >= cfg_.vocab_size) sampler_.vocab = 0;
  for (const auto& s : opt_.stop_strings) {
    if (s.empty()) throw std::invalid_argument("generate: empty stop string");
    longest_stop_ = std::max(longest_stop_, s.size());
  }
}

void Engine::allocate_pool() {
  const int64_t block_bytes = kv_block_bytes(m_, bs_);
  // Worst case of the call: every sequence at full length, plus each group's held blocks.
  int64_t unbounded = 0, min_needed = 0, hold_max = 0;
  for (const auto& p : prompts_) {
    const int64_t P = static_cast<int64_t>(p.size());
    const int64_t seq = ceil_div(P + opt_.max_new_tokens - 1, bs_);
    unbounded += opt_.n * seq + P / bs_ + 1;
    min_needed = std::max(min_needed, seq);
    hold_max = std::max(hold_max, P / bs_ + 1);
  }
  // The minimum that always makes progress: the longest sequence alone beside one group's holdings.
  min_needed += hold_max;
  int64_t blocks = unbounded;
  if (opt_.kv_cache_blocks > 0) {
    blocks = opt_.kv_cache_blocks;
  } else if (opt_.kv_cache_bytes > 0) {
    blocks = static_cast<int64_t>(opt_.kv_cache_bytes / static_cast<double>(block_bytes));
  }
  if (blocks < min_needed) {
    char msg[512];
    std::snprintf(msg, sizeof msg,
                  "generate: the KV cache budget (--kv-cache-gib / rollout.kv_cache_gib) of %.4g GiB holds %lld blocks "
                  "of %lld tokens (%.4g MiB each); these prompts with max_new_tokens %lld need at least %lld blocks "
                  "(%.4g GiB). Raise the budget or lower max_new_tokens.",
                  static_cast<double>(blocks) * block_bytes / kGiB, static_cast<long long>(blocks),
                  static_cast<long long>(bs_), block_bytes / 1048576.0, static_cast<long long>(opt_.max_new_tokens),
                  static_cast<long long>(min_needed), static_cast<double>(min_needed) * block_bytes / kGiB);
    throw std::invalid_argument(msg);
  }
  blocks = std::min(blocks, unbounded);  // never more than the call can use
  bm_ = std::make_unique<BlockManager>(blocks + 1);
  stats_.kv_blocks = blocks;
  stats_.block_size = bs_;
  stats_.kv_bytes = (blocks + 1) * block_bytes;
  if (opt_.dry_run) return;
  auto copt = at::TensorOptions().dtype(m_.dtype()).device(m_.device());
  const int64_t L = cfg_.num_hidden_layers;
  // Zeroed once: masked reads of the reference path multiply 0 weights by V, so V must be finite.
  pool_ = at::zeros({L, 2, blocks + 1, bs_, kv_, D_}, copt);
  for (int64_t l = 0; l < L; ++l) {
    kp_.push_back(pool_[l][0]);
    vp_.push_back(pool_[l][1]);
    krows_.push_back(kp_.back().view({-1, kv_, D_}));
    vrows_.push_back(vp_.back().view({-1, kv_, D_}));
  }
  table_ = at::zeros({slots_ + 1, width_}, copt.dtype(at::kInt));
  pool_mem_ = memory::track("kv_pool", "generate", {pool_});
  pool_mem_.set_in_use(0);
}

// ------------------------------------------------------------------------------------- scheduling

int64_t Engine::blocks_to_admit(int64_t s) const {
  const Seq& q = seqs_[static_cast<size_t>(s)];
  const int64_t P = static_cast<int64_t>(prompts_[static_cast<size_t>(q.prompt)].size());
  if (q.started)  // resume: prompt + generated tokens, and one more position to grow into
    return ceil_div(P + static_cast<int64_t>(results_[static_cast<size_t>(s)].tokens.size()) + 1, bs_);
  const Group& g = groups_[static_cast<size_t>(q.prompt)];
  const int64_t own = ceil_div(P + 1, bs_) - P / bs_;  // private blocks up to the first generated position
  // While samples remain after this one, the group will need a copy of the partial block.
  const int64_t hold = (!g.prefilled || g.tail_pending) && g.unadmitted > 1 && P % bs_ != 0 ? 1 : 0;
  return (g.prefilled ? 0 : P / bs_) + own + hold;
}

void Engine::assign_block(Seq& q, int32_t b) {
  const int64_t col = static_cast<int64_t>(q.blocks.size());
  q.blocks.push_back(b);
  if (q.slot >= 0) {
    table_delta_.push_back(q.slot * width_ + col);
    table_delta_.push_back(b);
  }
}

void Engine::admit(int64_t s, StepPlan& plan) {
  Seq& q = seqs_[static_cast<size_t>(s)];
  Group& g = groups_[static_cast<size_t>(q.prompt)];
  const int64_t P = static_cast<int64_t>(prompts_[static_cast<size_t>(q.prompt)].size());
  q.slot = *free_slots_.begin();
  free_slots_.erase(free_slots_.begin());
  q.state = SeqState::Running;
  q.admitted = Clock::now();
  running_.insert(std::lower_bound(running_.begin(), running_.end(), s), s);
  StepPlan::Kind kind;
  if (q.started) {
    kind = StepPlan::Kind::Resume;
    // A resumed sequence recomputes prompt + every generated token (the pending one included).
    q.len = P + static_cast<int64_t>(results_[static_cast<size_t>(s)].tokens.size());
    for (int64_t i = 0; i < ceil_div(q.len, bs_); ++i) assign_block(q, bm_->alloc());
    q.pending = -1;
  } else {
    q.started = true;
    q.len = P;
    kind = g.prefilled ? StepPlan::Kind::LaterSample : StepPlan::Kind::FirstOfGroup;
    // The group's full blocks are allocated at its first admission (written by this step's
    // prefill); the copy of its partial block only if samples remain when the step's admission
    // moves on (close_group), so a group admitted whole never writes one.
    if (!g.prefilled) {
      for (int64_t i = 0; i < P / bs_; ++i) g.held.push_back(bm_->alloc());
      g.prefilled = true;
      g.tail_pending = P % bs_ != 0;
    }
    for (int64_t i = 0; i < P / bs_; ++i) {
      bm_->retain(g.held[static_cast<size_t>(i)]);
      assign_block(q, g.held[static_cast<size_t>(i)]);
    }
    if (P % bs_ != 0) assign_block(q, bm_->alloc());  // private partial block
    --g.unadmitted;
  }
  plan.admitted.push_back({s, kind});
}

void Engine::release(Seq& q) {
  bm_->release_all(q.blocks);
  running_.erase(std::find(running_.begin(), running_.end(), &q - seqs_.data()));
  free_slots_.insert(q.slot);
  q.slot = -1;
}

void Engine::preempt(int64_t s) {
  Seq& q = seqs_[static_cast<size_t>(s)];
  release(q);
  q.state = SeqState::Waiting;
  q.len = 0;
  q.pending = -1;
  waiting_.push_front(s);
  results_[static_cast<size_t>(s)].preemptions++;
  stats_.preemptions++;
  // SGLang's retract: expect more of the remaining budget to be used from now on.
  int64_t gen = 0;
  for (int64_t r : running_) gen += static_cast<int64_t>(results_[static_cast<size_t>(r)].tokens.size());
  const double rows = static_cast<double>(std::max<size_t>(running_.size(), 1));
  rho_ = std::min(1.0, (static_cast<double>(gen) + 20.0 * rows) / (rows * static_cast<double>(opt_.max_new_tokens)));
}

int64_t Engine::pick_victim(const std::vector<int64_t>& candidates) const {
  // Fewest generated tokens first (the least work lost); ties to the highest (prompt, sample).
  int64_t best = -1;
  size_t best_gen = 0;
  for (int64_t s : candidates) {
    const size_t gen = results_[static_cast<size_t>(s)].tokens.size();
    if (best < 0 || gen < best_gen || (gen == best_gen && s > best)) {
      best = s;
      best_gen = gen;
    }
  }
  return best;
}

int64_t Engine::reserve_of(int64_t s) const {
  const double left = rho_ * static_cast<double>(opt_.max_new_tokens) -
                      static_cast<double>(results_[static_cast<size_t>(s)].tokens.size());
  return left > 0 ? ceil_div(static_cast<int64_t>(std::ceil(left)), bs_) : 0;
}

int64_t Engine::reserve_blocks() const {
  int64_t r = 0;
  for (int64_t s : running_) r += reserve_of(s);
  return r;
}

StepPlan Engine::schedule() {
  StepPlan plan;
  // 1. Running sequences first: each row writes its pending token at position len; a row at a
  //    block boundary needs a new block. Preempt until they all fit.
  std::vector<int64_t> rows = running_;
  if (opt_.preempt_every > 0 && stats_.steps > 0 && stats_.steps % opt_.preempt_every == 0 && rows.size() > 1) {
    const int64_t v = pick_victim(rows);
    preempt(v);
    rows.erase(std::find(rows.begin(), rows.end(), v));
  }
  auto needs_block = [&](int64_t s) {
    const Seq& q = seqs_[static_cast<size_t>(s)];
    return q.len >= static_cast<int64_t>(q.blocks.size()) * bs_;
  };
  int64_t need = std::count_if(rows.begin(), rows.end(), needs_block);
  while (need > bm_->free_blocks()) {
    const int64_t v = pick_victim(rows);
    if (needs_block(v)) --need;
    preempt(v);
    rows.erase(std::find(rows.begin(), rows.end(), v));
  }
  for (int64_t s : rows)
    if (needs_block(s)) assign_block(seqs_[static_cast<size_t>(s)], bm_->alloc());
  plan.decode = rows;
  // 2. Admission in queue order while the pool keeps the running rows' expected growth. With
  //    nothing running, the head of the queue is admitted whenever it fits at all (progress).
  const int64_t watermark = bm_->capacity() / 100;
  int64_t reserve = reserve_blocks();  // summed once; each admission adds its own share
  int64_t open = -1;                   // group first admitted in this step, whose samples are being admitted
  auto close_group = [&] {
    if (open < 0) return;
    Group& g = groups_[static_cast<size_t>(open)];
    if (g.tail_pending && g.unadmitted > 0) {  // blocks_to_admit reserved this block
      g.tail_copy = bm_->alloc();
      g.held.push_back(g.tail_copy);
    }
    g.tail_pending = false;
    open = -1;
  };
  while (!waiting_.empty() && !free_slots_.empty()) {
    const int64_t s = waiting_.front();
    const Seq& q = seqs_[static_cast<size_t>(s)];
    if (q.started || q.prompt != open) close_group();
    const int64_t n = blocks_to_admit(s);
    const bool idle = running_.empty();
    if (idle ? n > bm_->free_blocks() : n + reserve + watermark > bm_->free_blocks()) break;
    waiting_.pop_front();
    const bool first = !q.started && !groups_[static_cast<size_t>(q.prompt)].prefilled;
    admit(s, plan);
    reserve += reserve_of(s);
    if (first) open = q.prompt;
  }
  close_group();
  rho_ = std::max(0.14, rho_ - (0.7 - 0.14) / 600.0);
  return plan;
}

// ------------------------------------------------------------------------------------- device work

at::Tensor Engine::upload(const std::vector<int64_t>& host) const {
  auto opt = at::TensorOptions().dtype(at::kLong);
  if (m_.device().is_cuda()) opt = opt.pinned_memory(true);
  at::Tensor h = at::empty({static_cast<int64_t>(host.size())}, opt);
  std::copy(host.begin(), host.end(), h.data_ptr<int64_t>());
  return m_.device().is_cuda() ? h.to(m_.device(), /*non_blocking=*/true) : h;
}

void Engine::prefill(std::vector<PrefillItem>& items, std::vector<at::Tensor>& resume_hidden) {
  const auto t0 = Clock::now();
  std::vector<int64_t> ids, pos, lens, last, src_tok, dst_row;
  for (const PrefillItem& it : items) {
    const int64_t start = static_cast<int64_t>(ids.size()), P = static_cast<int64_t>(it.tokens.size());
    for (int64_t t = 0; t < P; ++t) {
      ids.push_back(it.tokens[static_cast<size_t>(t)]);
      pos.push_back(t);
    }
    lens.push_back(P);
    last.push_back(start + P - 1);
    for (const auto& d : it.dests)
      for (int64_t t = d.second; t < P; ++t) {
        src_tok.push_back(start + t);
        dst_row.push_back(static_cast<int64_t>((*d.first)[static_cast<size_t>(t / bs_)]) * bs_ + t % bs_);
      }
  }
  const int64_t T = static_cast<int64_t>(ids.size()), N = static_cast<int64_t>(src_tok.size());
  std::vector<int64_t> pack = ids;
  pack.insert(pack.end(), pos.begin(), pos.end());
  pack.insert(pack.end(), last.begin(), last.end());
  pack.insert(pack.end(), src_tok.begin(), src_tok.end());
  pack.insert(pack.end(), dst_row.begin(), dst_row.end());
  at::Tensor dev = upload(pack);
  const int64_t C = static_cast<int64_t>(last.size());
  at::Tensor ids_d = dev.narrow(0, 0, T), pos_d = dev.narrow(0, T, T), last_d = dev.narrow(0, 2 * T, C);
  at::Tensor src_d = dev.narrow(0, 2 * T + C, N), rows = dev.narrow(0, 2 * T + C + N, N);
  const bool same_rows = N == T;  // one destination per token: no gather of K/V rows needed
  const bool all_same = std::all_of(lens.begin(), lens.end(), [&](int64_t l) { return l == lens[0]; });
  Rope rope = m_.rope(pos_d);
  at::Tensor x = at::embedding(m_.embed_tokens(), ids_d);
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    x = m_.layer_forward(l, x, rope, [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
      krows_[static_cast<size_t>(l)].index_copy_(0, rows, same_rows ? k : k.index_select(0, src_d));
      vrows_[static_cast<size_t>(l)].index_copy_(0, rows, same_rows ? v : v.index_select(0, src_d));
      if (C > 1 && all_same) {  // equal-length prompts: one batched causal SDPA instead of C calls
        const int64_t L = lens[0], H = q.size(1);
        auto bt = [&](const at::Tensor& t) { return t.view({C, L, t.size(1), D_}).transpose(1, 2); };
        at::Tensor o = at::scaled_dot_product_attention(bt(q), bt(k), bt(v), {}, 0.0, /*is_causal=*/true, std::nullopt,
                                                        /*enable_gqa=*/true);
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
  for (int64_t j = 0; j < C; ++j) {
    PrefillItem& it = items[static_cast<size_t>(j)];
    if (it.group >= 0) {
      Group& g = groups_[static_cast<size_t>(it.group)];
      g.last_hidden = h.select(0, j);
      g.prefill_ms = ms;
      stats_.prompt_prefills++;
    } else {
      resume_hidden[static_cast<size_t>(it.seq)] = h.select(0, j);
      stats_.resume_prefills++;
    }
  }
}

void Engine::copy_tails(const std::vector<int64_t>& later) {
  // Later samples of a prompt: the partial last block comes from the group's copy.
  std::vector<int64_t> pack;
  for (int64_t s : later) {
    const Seq& q = seqs_[static_cast<size_t>(s)];
    const Group& g = groups_[static_cast<size_t>(q.prompt)];
    const int64_t P = static_cast<int64_t>(prompts_[static_cast<size_t>(q.prompt)].size());
    for (int64_t t = P / bs_ * bs_; t < P; ++t) pack.push_back(static_cast<int64_t>(g.tail_copy) * bs_ + t % bs_);
  }
  const int64_t N = static_cast<int64_t>(pack.size());
  if (N == 0) return;
  for (int64_t s : later) {
    const Seq& q = seqs_[static_cast<size_t>(s)];
    const int64_t P = static_cast<int64_t>(prompts_[static_cast<size_t>(q.prompt)].size());
    for (int64_t t = P / bs_ * bs_; t < P; ++t) pack.push_back(token_row(q, t));
  }
  at::Tensor dev = upload(pack);
  at::Tensor from = dev.narrow(0, 0, N), to = dev.narrow(0, N, N);
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    krows_[static_cast<size_t>(l)].index_copy_(0, to, krows_[static_cast<size_t>(l)].index_select(0, from));
    vrows_[static_cast<size_t>(l)].index_copy_(0, to, vrows_[static_cast<size_t>(l)].index_select(0, from));
  }
}

// Hidden states [R, H] of the admitted rows, in admission order: prefills, tail copies, resumes.
at::Tensor Engine::admit_rows(const StepPlan& plan) {
  std::vector<PrefillItem> items;
  std::vector<int64_t> later;
  std::vector<int64_t> first_item(groups_.size(), -1);
  for (const auto& a : plan.admitted) {
    const Seq& q = seqs_[static_cast<size_t>(a.seq)];
    const auto& prompt = prompts_[static_cast<size_t>(q.prompt)];
    const int64_t P = static_cast<int64_t>(prompt.size());
    if (a.kind == StepPlan::Kind::Resume) {
      PrefillItem it;
      it.tokens = prompt;
      const auto& gen = results_[static_cast<size_t>(a.seq)].tokens;
      it.tokens.insert(it.tokens.end(), gen.begin(), gen.end());
      it.dests.push_back({&q.blocks, 0});
      it.seq = a.seq;
      items.push_back(std::move(it));
    } else if (a.kind == StepPlan::Kind::FirstOfGroup || first_item[static_cast<size_t>(q.prompt)] >= 0) {
      // The prompt's first admitted sample writes the full blocks and its partial block; every
      // other sample admitted in the same step adds its own partial block as a destination.
      int64_t& fi = first_item[static_cast<size_t>(q.prompt)];
      if (fi < 0) {
        fi = static_cast<int64_t>(items.size());
        PrefillItem it;
        it.tokens = prompt;
        it.dests.push_back({&q.blocks, 0});
        const Group& g = groups_[static_cast<size_t>(q.prompt)];
        if (g.tail_copy != 0) it.dests.push_back({&g.held, P / bs_ * bs_});
        it.group = q.prompt;
        items.push_back(std::move(it));
      } else if (P % bs_ != 0) {
        items[static_cast<size_t>(fi)].dests.push_back({&q.blocks, P / bs_ * bs_});
      }
    } else {
      later.push_back(a.seq);
    }
  }
  std::vector<at::Tensor> resume_hidden(seqs_.size());
  // Packed prefill passes within the token budget (a longer item gets a pass of its own).
  for (size_t i = 0; i < items.size();) {
    size_t j = i;
    int64_t tokens = 0;
    while (j < items.size()) {
      const int64_t P = static_cast<int64_t>(items[j].tokens.size());
      if (j > i && tokens + P > opt_.prefill_tokens) break;
      tokens += P;
      ++j;
    }
    std::vector<PrefillItem> pass(std::make_move_iterator(items.begin() + static_cast<int64_t>(i)),
                                  std::make_move_iterator(items.begin() + static_cast<int64_t>(j)));
    prefill(pass, resume_hidden);
    i = j;
  }
  copy_tails(later);
  std::vector<at::Tensor> rows;
  for (const auto& a : plan.admitted) {
    const Seq& q = seqs_[static_cast<size_t>(a.seq)];
    Group& g = groups_[static_cast<size_t>(q.prompt)];
    const bool resume = a.kind == StepPlan::Kind::Resume;
    rows.push_back(resume ? resume_hidden[static_cast<size_t>(a.seq)] : g.last_hidden);
    // The wall time of the prefill pass that covered this sample (0 when its blocks were copied).
    const bool copied = std::find(later.begin(), later.end(), a.seq) != later.end();
    if (!resume) results_[static_cast<size_t>(a.seq)].prefill_ms = copied ? 0.0 : g.prefill_ms;
  }
  at::Tensor out = at::stack(rows, 0);
  release_admitted_groups(plan);
  return out;
}

void Engine::release_admitted_groups(const StepPlan& plan) {
  // Groups whose every sample is now admitted give up their held blocks and hidden state.
  for (const auto& a : plan.admitted) {
    Group& g = groups_[static_cast<size_t>(seqs_[static_cast<size_t>(a.seq)].prompt)];
    if (g.unadmitted == 0 && (g.last_hidden.defined() || !g.held.empty())) {
      g.last_hidden = at::Tensor();
      bm_->release_all(g.held);
      g.tail_copy = 0;
    }
  }
}

at::Tensor Engine::decode_forward(const std::vector<int64_t>& rows, const at::Tensor& dev) {
  // dev: tokens, positions, write rows, slots, lengths (B each).
  const int64_t B = static_cast<int64_t>(rows.size());
  at::Tensor tok_d = dev.narrow(0, 0, B), pos_d = dev.narrow(0, B, B), write_d = dev.narrow(0, 2 * B, B);
  at::Tensor slot_d = dev.narrow(0, 3 * B, B), len_d = dev.narrow(0, 4 * B, B);
  std::vector<int64_t> len_h;
  for (int64_t s : rows) len_h.push_back(seqs_[static_cast<size_t>(s)].len + 1);
  DecodeAttentionPlan plan = make_decode_plan(len_h, slot_d, len_d, table_, bs_, cache_len_);
  Rope rope = m_.rope(pos_d);
  const auto t_enqueue = Clock::now();
  at::Tensor x = at::embedding(m_.embed_tokens(), tok_d);
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    x = m_.layer_forward(l, x, rope, [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
      krows_[static_cast<size_t>(l)].index_copy_(0, write_d, k);
      vrows_[static_cast<size_t>(l)].index_copy_(0, write_d, v);
      return decode_attention(q, kp_[static_cast<size_t>(l)], vp_[static_cast<size_t>(l)], plan);
    });
  }
  at::Tensor h = rms_norm(x, m_.final_norm(), cfg_.rms_norm_eps);
  if (profile_) prof_[4] += ms_since(t_enqueue);
  return h;
}

SampleOut Engine::run_step(const StepPlan& plan, at::Tensor& logits) {
  const int64_t R = static_cast<int64_t>(plan.admitted.size()), B = static_cast<int64_t>(plan.decode.size());
  if (opt_.dry_run) {
    for (const auto& a : plan.admitted) {
      if (a.kind == StepPlan::Kind::FirstOfGroup) stats_.prompt_prefills++;
      if (a.kind == StepPlan::Kind::Resume) stats_.resume_prefills++;
    }
    release_admitted_groups(plan);
    table_delta_.clear();
    return {at::zeros({R + B}, at::kLong), at::zeros({R + B}, at::kFloat)};
  }
  at::Tensor new_hidden = plan.admitted.empty() ? at::Tensor() : admit_rows(plan);
  // One packed upload: decode rows' tokens, positions, write rows, slots, lengths; uniforms of all
  // rows; then the block-table deltas.
  std::vector<int64_t> pack(static_cast<size_t>(5 * B + R + B), 0);
  for (int64_t b = 0; b < B; ++b) {
    const Seq& q = seqs_[static_cast<size_t>(plan.decode[static_cast<size_t>(b)])];
    pack[static_cast<size_t>(b)] = q.pending;
    pack[static_cast<size_t>(B + b)] = q.len;
    pack[static_cast<size_t>(2 * B + b)] = token_row(q, q.len);
    pack[static_cast<size_t>(3 * B + b)] = q.slot;
    pack[static_cast<size_t>(4 * B + b)] = q.len + 1;
  }
  std::vector<int64_t> rows;
  for (const auto& a : plan.admitted) rows.push_back(a.seq);
  rows.insert(rows.end(), plan.decode.begin(), plan.decode.end());
  for (int64_t r = 0; r < R + B; ++r) {
    const Seq& q = seqs_[static_cast<size_t>(rows[static_cast<size_t>(r)])];
    pack[static_cast<size_t>(5 * B + r)] = sequence_uniform24(
        opt_.seed, q.prompt + opt_.prompt_index_offset, q.sample,
        static_cast<int64_t>(results_[static_cast<size_t>(rows[static_cast<size_t>(r)])].tokens.size()));
  }
  const int64_t ndelta = static_cast<int64_t>(table_delta_.size()) / 2;
  for (int64_t i = 0; i < ndelta; ++i) pack.push_back(table_delta_[static_cast<size_t>(2 * i)]);
  for (int64_t i = 0; i < ndelta; ++i) pack.push_back(table_delta_[static_cast<size_t>(2 * i + 1)]);
  table_delta_.clear();
  at::Tensor dev = upload(pack);
  if (ndelta > 0) {
    const int64_t off = 5 * B + R + B;
    table_.view({-1}).index_put_({dev.narrow(0, off, ndelta)}, dev.narrow(0, off + ndelta, ndelta).to(at::kInt));
  }
  mark(-1, dev);
  SampleOut so;
  if (graphs_ && R == 0 && B > 0) {
    // Whole step through the CUDA graph of B's bucket.
    std::vector<int64_t> gp(pack.begin(), pack.begin() + 6 * B);
    try {
      auto r = step_->graph_step(gp, B);
      stats_.graph_steps++;
      so.tokens = r.first;
      so.logprobs = r.second;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gtr generate: CUDA graph capture failed (%s); eager kernels from now on\n", e.what());
      graphs_ = false;
    }
    mark(0, so.logprobs.defined() ? so.logprobs : dev);
    if (so.tokens.defined()) return so;
  }
  at::Tensor uniforms = dev.narrow(0, 5 * B, R + B).to(at::kFloat) * (1.0 / 16777216.0);
  at::Tensor hidden = new_hidden;
  if (B > 0) {
    at::Tensor h = fast_ ? step_->forward(dev.narrow(0, 0, B), dev.narrow(0, B, B), dev.narrow(0, 2 * B, B),
                                          dev.narrow(0, 3 * B, B), dev.narrow(0, 4 * B, B))
                         : decode_forward(plan.decode, dev);
    hidden = hidden.defined() ? at::cat({hidden, h}, 0) : h;
  }
  mark(0, hidden);
  if (fast_) {
    auto r = step_->sample(hidden, uniforms);
    so.tokens = r.first;
    so.logprobs = r.second;
  } else {
    logits = at::linear(hidden, m_.lm_head()).to(at::kFloat);
    mark(1, logits);
    so = sample_tokens(logits, sampler_, uniforms);
  }
  mark(2, so.logprobs);
  return so;
}

// ------------------------------------------------------------------------------------ postprocess

bool Engine::stop_string_hit(int64_t s, int32_t tok) {
  std::string& text = text_[static_cast<size_t>(s)];
  const size_t before = text.size();
  text += (*opt_.token_bytes)[static_cast<size_t>(tok)];
  // Only matches that end inside this token's bytes are new.
  const size_t from = before >= longest_stop_ ? before - longest_stop_ + 1 : 0;
  int64_t best = -1;
  for (const auto& stop : opt_.stop_strings) {
    const size_t at = text.find(stop, from);
    if (at != std::string::npos && at + stop.size() > before && (best < 0 || static_cast<int64_t>(at) < best))
      best = static_cast<int64_t>(at);
  }
  if (best < 0) return false;
  results_[static_cast<size_t>(s)].stop_offset = best;
  return true;
}

void Engine::postprocess(const StepPlan& plan, const SampleOut& so, const at::Tensor& logits) {
  const int64_t R = static_cast<int64_t>(plan.admitted.size()), B = static_cast<int64_t>(plan.decode.size());
  at::Tensor host = at::stack({so.tokens.to(at::kFloat), so.logprobs}, 0).to(at::kCPU).contiguous();
  at::Tensor logits_host = opt_.return_logits ? logits.to(at::kCPU).contiguous() : at::Tensor();
  const float* hp = host.data_ptr<float>();
  mark(3, host);
  for (int64_t r = 0; r < R + B; ++r) {
    const int64_t s = r < R ? plan.admitted[static_cast<size_t>(r)].seq : plan.decode[static_cast<size_t>(r - R)];
    Seq& q = seqs_[static_cast<size_t>(s)];
    SequenceResult& res = results_[static_cast<size_t>(s)];
    const int32_t tok = static_cast<int32_t>(hp[r]);
    if (tok < 0)  // the samplers' mark of a NaN row (sampler.h)
      throw std::runtime_error(
          "generate: the model's logits are NaN for prompt " + std::to_string(res.prompt) + ", sample " +
          std::to_string(res.sample) + " at generated token " + std::to_string(res.tokens.size()) +
          ": the weights or activations overflowed (check the checkpoint, dtype and learning rate)");
    res.tokens.push_back(tok);
    res.logprobs.push_back(hp[R + B + r]);
    if (opt_.return_logits) {
      const float* lr = logits_host.data_ptr<float>() + r * cfg_.vocab_size;
      res.logits.insert(res.logits.end(), lr, lr + cfg_.vocab_size);
    }
    if (r >= R) q.len += 1;  // the pending token's K/V went in this step
    stats_.generated_tokens++;
    const bool stopped = stop_ids_.count(tok) > 0 || (!opt_.stop_strings.empty() && stop_string_hit(s, tok));
    const int64_t cap = opt_.target_lengths.empty() ? opt_.max_new_tokens : opt_.target_lengths[static_cast<size_t>(s)];
    if (stopped || static_cast<int64_t>(res.tokens.size()) >= cap) {
      q.state = SeqState::Done;
      q.pending = -1;
      res.stopped = stopped;
      res.decode_ms = ms_since(q.admitted);
      release(q);
      ++finished_;
    } else {
      q.pending = tok;
    }
  }
}

void Engine::check_blocks() const {
  std::vector<int32_t> refs(static_cast<size_t>(bm_->num_blocks()), 0);
  for (const Seq& q : seqs_)
    for (int32_t b : q.blocks) refs[static_cast<size_t>(b)]++;
  for (const Group& g : groups_)
    for (int32_t b : g.held) refs[static_cast<size_t>(b)]++;
  const std::string err = bm_->check(refs);
  if (!err.empty()) throw std::logic_error("generate: KV block accounting: " + err);
}

// ------------------------------------------------------------------------------------------- run

GenerateOutput Engine::run() {
  const auto t_start = Clock::now();
  const int64_t nprompts = static_cast<int64_t>(prompts_.size());
  total_ = nprompts * opt_.n;
  if (total_ == 0) return {};
  kv_ = cfg_.num_key_value_heads;
  D_ = cfg_.head_dim;
  validate();
  slots_ = opt_.max_num_seqs > 0 ? std::min(opt_.max_num_seqs, total_) : std::min<int64_t>(total_, 256);
  stats_.slots = slots_;
  stats_.max_len = cache_len_;
  const char* dbg = std::getenv("GTR_KV_DEBUG");
  check_ = opt_.check_blocks || (dbg && std::strcmp(dbg, "1") == 0);
  if (hooks_.cancelled && hooks_.cancelled()) throw std::runtime_error("generation cancelled");
  allocate_pool();
  fast_ = cuda_decode_available(m_) && !opt_.return_logits && !opt_.dry_run;
  graphs_ = fast_ && cuda_graphs_enabled();
  if (fast_) {
    caches_ = DecodeStepCaches{kp_, vp_, krows_, vrows_, table_, bs_, cache_len_, slots_};
    step_ = std::make_unique<CudaDecodeStep>(m_, caches_, sampler_);
  }
  stop_ids_ = std::set<int64_t>(opt_.stop_token_ids.begin(), opt_.stop_token_ids.end());
  seqs_.resize(static_cast<size_t>(total_));
  results_.resize(static_cast<size_t>(total_));
  groups_.resize(static_cast<size_t>(nprompts));
  if (!opt_.stop_strings.empty()) text_.resize(static_cast<size_t>(total_));
  for (int64_t i = 0; i < total_; ++i) {
    seqs_[static_cast<size_t>(i)].prompt = results_[static_cast<size_t>(i)].prompt = i / opt_.n;
    seqs_[static_cast<size_t>(i)].sample = results_[static_cast<size_t>(i)].sample = i % opt_.n;
    groups_[static_cast<size_t>(i / opt_.n)].unadmitted++;
    waiting_.push_back(i);
  }
  for (int64_t s = 0; s < slots_; ++s) free_slots_.insert(s);

  auto last_report = Clock::now();
  while (finished_ < total_) {
    if (hooks_.cancelled && hooks_.cancelled()) {
      // Every block goes back before the error (checked under check_blocks like a finished call).
      while (!running_.empty()) release(seqs_[static_cast<size_t>(running_.back())]);
      for (Group& g : groups_) bm_->release_all(g.held);
      if (check_) check_blocks();
      if (bm_->used_blocks() != 0) throw std::logic_error("generate: KV blocks leaked on cancel");
      throw std::runtime_error("generation cancelled");
    }
    const StepPlan plan = schedule();
    pool_mem_.set_in_use(bm_->used_blocks() * kv_block_bytes(m_, bs_));
    if (plan.admitted.empty() && plan.decode.empty())
      throw std::logic_error("generate: the scheduler made no progress (KV pool too small?)");
    if (check_) check_blocks();
    const auto t_step = Clock::now();
    at::Tensor logits;
    const SampleOut so = run_step(plan, logits);
    postprocess(plan, so, logits);
    stats_.decode_ms += ms_since(t_step);
    stats_.steps++;
    stats_.decode_rows += static_cast<int64_t>(plan.decode.size());
    if (hooks_.progress && (finished_ == total_ || ms_since(last_report) >= 100.0)) {
      hooks_.progress({finished_, total_, stats_.generated_tokens});
      last_report = Clock::now();
    }
  }
  if (check_) check_blocks();
  stats_.wall_ms = ms_since(t_start);
  stats_.cuda_kernels = fast_;
  stats_.peak_blocks = bm_->peak_used();
  stats_.blocks_in_use_end = bm_->used_blocks();
  if (step_) stats_.graphs = step_->graphs_captured();
  if (profile_)
    std::fprintf(stderr,
                 "gtr generate profile (ms): decode forward %.1f (host enqueue %.1f), lm_head %.1f, sampler %.1f, copy "
                 "%.1f; prefill %.1f; steps %lld\n",
                 prof_[0], prof_[4], prof_[1], prof_[2], prof_[3], stats_.prefill_ms,
                 static_cast<long long>(stats_.steps));
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

// Test hooks of the training engine (lossDebug, chunkedLogprobDebug) on `native().testing`.
// Synchronous, small inputs (src/native/types.ts NativeTesting): the loss on given per-token values with its
// autograd gradient (test/train-losses.test.ts checks it against finite differences), and the
// chunked log-prob / entropy against the naive one.
#include <napi.h>
#include "core/convert.h"
#include "core/errors.h"
#include "core/options.h"
#include "train/chunked_logprob.h"
#include "train/losses.h"
#include "train/trainer_wrap.h"

namespace gtr {
namespace {

Napi::Value LossDebug(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 6, "lossDebug(logp, old, anchors, adv, mask, config, extra?)");
  return js_try(env, [&]() -> Napi::Value {
    at::Tensor logp_all = double_tensor_from_js(info[0], "logp");
    const int64_t T = logp_all.size(0);
    at::Tensor mask = bool_tensor_from_js(info[4], "mask");
    if (mask.size(0) != T) throw std::invalid_argument("mask length differs from logp");
    Napi::Object extra = info.Length() >= 7 && info[6].IsObject() ? info[6].As<Napi::Object>() : Napi::Object::New(env);
    std::vector<int64_t> lens =
        extra.Get("seqLens").IsUndefined() ? std::vector<int64_t>{T} : seq_lens_from_js(extra.Get("seqLens"), T);
    at::Tensor pos = mask.nonzero().squeeze(1);
    std::vector<int64_t> sid_all;
    for (size_t s = 0; s < lens.size(); ++s) sid_all.insert(sid_all.end(), lens[s], static_cast<int64_t>(s));
    at::Tensor sid = at::tensor(sid_all, at::kLong).index_select(0, pos);
    auto pick = [&](const at::Tensor& t, const std::string& what) {
      if (t.size(0) != T) throw std::invalid_argument(what + " length differs from logp");
      return t.index_select(0, pos);
    };
    ResolvedLoss loss = resolve_loss(loss_config_from_js(info[5]));
    LossInputs in;
    in.logp = logp_all.index_select(0, pos).detach().requires_grad_(true);
    in.old_logp = pick(double_tensor_from_js(info[1], "old"), "old");
    if (!info[2].IsArray()) throw std::invalid_argument("anchors must be an array of Float64Array");
    Napi::Array anchors = info[2].As<Napi::Array>();
    for (uint32_t k = 0; k < anchors.Length(); ++k)
      in.anchors.push_back(pick(double_tensor_from_js(anchors.Get(k), "anchors[k]"), "anchors[k]"));
    in.adv = pick(double_tensor_from_js(info[3], "adv"), "adv");
    if (!extra.Get("ref").IsUndefined()) in.ref_logp = pick(double_tensor_from_js(extra.Get("ref"), "ref"), "ref");
    if (!extra.Get("rollout").IsUndefined())
      in.rollout_logp = pick(double_tensor_from_js(extra.Get("rollout"), "rollout"), "rollout");
    if (!extra.Get("entropy").IsUndefined())
      in.entropy =
          pick(double_tensor_from_js(extra.Get("entropy"), "entropy"), "entropy").detach().requires_grad_(true);
    in.seq_ids = sid;
    in.num_seqs = static_cast<int64_t>(lens.size());
    Napi::Value d = extra.Get("denominators");
    in.denom_tokens =
        d.IsObject() ? JsOptions(d, "lossDebug: denominators.").number("tokens") : static_cast<double>(pos.numel());
    in.denom_seqs =
        d.IsObject() ? JsOptions(d, "lossDebug: denominators.").number("sequences") : static_cast<double>(lens.size());
    at::AutoGradMode grad_mode(true);
    LossTerms terms = compute_loss(loss, in);
    terms.loss.backward();
    auto full = [&](const at::Tensor& x) {
      return at::zeros({T}, at::kDouble)
          .index_copy(0, pos, x.defined() ? x.to(at::kDouble) : at::zeros({pos.numel()}, at::kDouble));
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", terms.loss.item<double>());
    o.Set("pgLoss", terms.pg_loss.item<double>());
    o.Set("penaltyLoss", terms.penalty_loss.item<double>());
    o.Set("klLoss", terms.kl_loss.item<double>());
    o.Set("entropyBonus", terms.entropy_bonus.item<double>());
    o.Set("grad", to_float64_array(env, full(in.logp.grad())));
    if (in.entropy.defined()) o.Set("entropyGrad", to_float64_array(env, full(in.entropy.grad())));
    o.Set("ratio", to_float64_array(env, full(terms.ratio)));
    o.Set("penalty", to_float64_array(env, full(terms.penalty)));
    o.Set("penaltyGradAbs", to_float64_array(env, full(terms.penalty_grad_abs)));
    o.Set("clippedLow", to_float64_array(env, full(terms.clipped_low)));
    o.Set("clippedHigh", to_float64_array(env, full(terms.clipped_high)));
    o.Set("dualClipped", to_float64_array(env, full(terms.dual_clipped)));
    if (terms.rollout_is_weight.defined())
      o.Set("rolloutIsWeight", to_float64_array(env, full(terms.rollout_is_weight)));
    return o;
  });
}

Napi::Value ChunkedLogprobDebug(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GTR_CHECK_ARG(env, info.Length() >= 1 && info[0].IsObject(),
                "chunkedLogprobDebug({hidden, weight, targets, hiddenSize, chunk, gradLogp, gradEntropy, naive})");
  return js_try(env, [&]() -> Napi::Value {
    const JsOptions o(info[0], "chunkedLogprobDebug: ");
    const int64_t H = o.integer("hiddenSize");
    at::Tensor h = float_tensor_from_js(o.get("hidden"), "hidden");
    at::Tensor w = float_tensor_from_js(o.get("weight"), "weight");
    std::vector<int32_t> tg = to_int_vector(o.get("targets"), "targets");
    if (H <= 0 || h.numel() % H != 0 || w.numel() % H != 0)
      throw std::invalid_argument("hidden / weight sizes are not multiples of hiddenSize");
    h = h.view({-1, H}).requires_grad_(true);
    w = w.view({-1, H}).requires_grad_(true);
    at::Tensor targets = at::tensor(at::ArrayRef<int32_t>(tg), at::kInt).to(at::kLong);
    if (targets.numel() > 0 && (targets.min().item<int64_t>() < 0 || targets.max().item<int64_t>() >= w.size(0)))
      throw std::invalid_argument("targets outside [0, vocab)");
    at::AutoGradMode grad_mode(true);
    const bool naive = o.boolean("naive", false);
    auto [lp, ent] =
        naive ? naive_logprob_entropy(h, w, targets) : chunked_logprob_entropy(h, w, targets, o.integer("chunk"));
    at::Tensor g_lp = float_tensor_from_js(o.get("gradLogp"), "gradLogp"),
               g_ent = float_tensor_from_js(o.get("gradEntropy"), "gradEntropy");
    at::Tensor obj = (lp * g_lp).sum() + (ent * g_ent).sum();
    obj.backward();
    Napi::Object out = Napi::Object::New(env);
    out.Set("logprobs", to_float32_array(env, lp.detach()));
    out.Set("entropy", to_float32_array(env, ent.detach()));
    out.Set("gradHidden", to_float32_array(env, h.grad().defined() ? h.grad() : at::zeros_like(h)));
    out.Set("gradWeight", to_float32_array(env, w.grad().defined() ? w.grad() : at::zeros_like(w)));
    return out;
  });
}

}  // namespace

// Registers lossDebug and chunkedLogprobDebug on `testing` (called from native/addon.cpp Init).
void register_train_hooks(Napi::Env env, Napi::Object& testing) {
  testing.Set("lossDebug", Napi::Function::New(env, LossDebug, "lossDebug"));
  testing.Set("chunkedLogprobDebug", Napi::Function::New(env, ChunkedLogprobDebug, "chunkedLogprobDebug"));
}

}  // namespace gtr

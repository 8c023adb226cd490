#include "generate/decode_attention.h"
#include <ATen/ops/scaled_dot_product_attention.h>
#include <stdexcept>

namespace gtr {

DecodeAttentionPlan make_decode_plan(const std::vector<int64_t>& slot_ids_host, const std::vector<int64_t>& lengths_host,
                                     const at::Tensor& slot_ids, const at::Tensor& lengths,
                                     const at::Tensor& span_lengths, int64_t cache_len) {
  DecodeAttentionPlan p;
  p.batch = static_cast<int64_t>(slot_ids_host.size());
  if (p.batch == 0) throw std::invalid_argument("decode_attention: empty batch");
  if (lengths_host.size() != slot_ids_host.size()) throw std::invalid_argument("decode_attention: slot / length counts differ");
  p.slot_ids = slot_ids;
  p.lengths = lengths;
  p.span = slot_ids_host.back() + 1;
  p.identity = p.span == p.batch;
  for (int64_t l : lengths_host) p.max_length = std::max(p.max_length, l);
  if (p.max_length > cache_len) throw std::invalid_argument("decode_attention: length beyond the cache");
  p.max_length = std::min(cache_len, (p.max_length + kLengthBucket - 1) / kLengthBucket * kLengthBucket);
  TORCH_CHECK(span_lengths.numel() == p.span, "decode_attention: span_lengths has ", span_lengths.numel(),
              " entries, expected ", p.span);
  at::Tensor pos = at::arange(p.max_length, span_lengths.options());
  p.span_mask = (pos.unsqueeze(0) < span_lengths.unsqueeze(1)).view({p.span, 1, 1, p.max_length});
  return p;
}

at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                            const DecodeAttentionPlan& plan) {
  const int64_t B = q.size(0), heads = q.size(1), D = q.size(2);
  const int64_t kv = k_cache.size(1), group = heads / kv;
  TORCH_CHECK(B == plan.batch, "decode_attention: q has ", B, " rows, the plan ", plan.batch);
  at::Tensor qs;
  if (plan.identity) {
    qs = q;
  } else {
    qs = at::zeros({plan.span, heads, D}, q.options());
    qs.index_copy_(0, plan.slot_ids, q);
  }
  qs = qs.view({plan.span, kv, group, D});
  at::Tensor k = k_cache.narrow(0, 0, plan.span).narrow(2, 0, plan.max_length);
  at::Tensor v = v_cache.narrow(0, 0, plan.span).narrow(2, 0, plan.max_length);
  at::Tensor o = at::scaled_dot_product_attention(qs, k, v, plan.span_mask);  // [span, kv, group, D]
  o = o.reshape({plan.span, heads * D});
  return plan.identity ? o : o.index_select(0, plan.slot_ids);
}

}  // namespace gtr

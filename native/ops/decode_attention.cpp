#include "ops/decode_attention.h"
#include <ATen/ops/scaled_dot_product_attention.h>
#include <stdexcept>

namespace gtr {

DecodeAttentionPlan make_decode_plan(const std::vector<int64_t>& lengths_host, const at::Tensor& slot_ids,
                                     const at::Tensor& lengths, const at::Tensor& block_table, int64_t block_size,
                                     int64_t cache_len) {
  DecodeAttentionPlan p;
  p.batch = static_cast<int64_t>(lengths_host.size());
  if (p.batch == 0) throw std::invalid_argument("decode_attention: empty batch");
  for (int64_t l : lengths_host) p.max_length = std::max(p.max_length, l);
  if (p.max_length > cache_len) throw std::invalid_argument("decode_attention: length beyond the cache");
  return make_decode_plan(slot_ids, lengths, block_table, block_size,
                          std::min(cache_len, (p.max_length + kLengthBucket - 1) / kLengthBucket * kLengthBucket));
}

DecodeAttentionPlan make_decode_plan(const at::Tensor& slot_ids, const at::Tensor& lengths,
                                     const at::Tensor& block_table, int64_t block_size, int64_t max_length) {
  if (max_length < 1) throw std::invalid_argument("decode_attention: max_length must be >= 1");
  DecodeAttentionPlan p;
  p.batch = slot_ids.size(0);
  p.max_length = max_length;
  const int64_t L = max_length;
  const at::Tensor len = lengths.to(at::kLong);
  at::Tensor pos = at::arange(L, len.options());                                         // [L]
  at::Tensor valid = pos.unsqueeze(0) < len.unsqueeze(1);                                // [B, L]
  at::Tensor table = block_table.index_select(0, slot_ids.to(at::kLong)).to(at::kLong);  // [B, W]
  at::Tensor cols = pos.div(block_size, "floor").unsqueeze(0).expand({p.batch, L});      // [B, L]
  at::Tensor rows = table.gather(1, cols) * block_size + (pos % block_size).unsqueeze(0);
  p.token_rows = at::where(valid, rows, at::zeros_like(rows)).reshape({-1});  // null block row 0 when masked
  p.mask = valid.view({p.batch, 1, 1, L});
  return p;
}

at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_pool, const at::Tensor& v_pool,
                            const DecodeAttentionPlan& plan, std::optional<double> scale) {
  const int64_t B = q.size(0), heads = q.size(1), D = q.size(2);
  const int64_t kv = k_pool.size(2), group = heads / kv, L = plan.max_length;
  TORCH_CHECK(B == plan.batch, "decode_attention: q has ", B, " rows, the plan ", plan.batch);
  auto gather = [&](const at::Tensor& pool) {
    // [NB * BS, kv, D] -> [B, L, kv, D] -> [B, kv, L, D], contiguous per head like a contiguous cache
    return pool.view({-1, kv, D})
        .index_select(0, plan.token_rows)
        .view({B, L, kv, D})
        .permute({0, 2, 1, 3})
        .contiguous();
  };
  at::Tensor qs = q.reshape({B, kv, group, D});
  at::Tensor o = at::scaled_dot_product_attention(qs, gather(k_pool), gather(v_pool), plan.mask, 0.0, false,
                                                  scale);  // [B, kv, group, D]
  return o.reshape({B, heads * D});
}

}  // namespace gtr

#include "parallel/weight_sync.h"
#include <ATen/core/grad_mode.h>
#include <stdexcept>

namespace gtr::dist {

static constexpr int64_t kAlign = 64;

static int64_t aligned(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

static int64_t nbytes(const at::Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); }

// FNV-1a over a string's bytes.
static void fnv(uint64_t& h, const std::string& s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
}

WeightLayout weight_layout(const NamedTensors& named) {
  WeightLayout l;
  l.hash = 1469598103934665603ULL;
  for (const auto& [name, t] : named) {
    std::string key = name + ":" + std::string(c10::toString(t.scalar_type()));
    for (int64_t d = 0; d < t.dim(); ++d) key += "," + std::to_string(t.size(d));
    fnv(l.hash, key + ";");
    l.bytes += aligned(nbytes(t));
    l.count += 1;
  }
  return l;
}

at::Tensor pack_weights(const NamedTensors& named) {
  at::NoGradGuard no_grad;
  const WeightLayout l = weight_layout(named);
  const at::Device dev = named.empty() ? at::Device(at::kCPU) : named.front().second.device();
  at::Tensor flat = at::zeros({l.bytes}, at::TensorOptions().dtype(at::kByte).device(dev));
  int64_t off = 0;
  for (const auto& [name, t] : named) {
    const int64_t n = nbytes(t);
    if (n > 0) flat.narrow(0, off, n).copy_(t.detach().contiguous().view({-1}).view(at::kByte));
    off += aligned(n);
  }
  return flat;
}

void unpack_weights(NamedTensors& named, const at::Tensor& flat) {
  at::NoGradGuard no_grad;
  const WeightLayout l = weight_layout(named);
  if (flat.numel() != l.bytes)
    throw std::invalid_argument("weight sync: " + std::to_string(flat.numel()) + " bytes received, the policy's " +
                                std::to_string(l.count) + " tensors take " + std::to_string(l.bytes));
  int64_t off = 0;
  for (auto& [name, t] : named) {
    const int64_t n = nbytes(t);
    if (n > 0) {
      at::Tensor src = flat.narrow(0, off, n).to(t.device());
      t.view({-1}).view(at::kByte).copy_(src);
    }
    off += aligned(n);
  }
}

static at::Tensor header(const WeightLayout& l, int64_t version) {
  at::Tensor h = at::empty({4}, at::kLong);
  auto* p = h.data_ptr<int64_t>();
  p[0] = l.count;
  p[1] = l.bytes;
  p[2] = static_cast<int64_t>(l.hash);
  p[3] = version;
  return h;
}

void send_weights(ProcessGroup& pg, const at::Tensor& flat, const WeightLayout& layout, int64_t version,
                  const std::string& label) {
  if (flat.numel() != layout.bytes) throw std::invalid_argument("weight sync: packed buffer does not match its layout");
  std::vector<at::Tensor> h{header(layout, version)};
  pg.broadcast(h, pg.rank(), label + " (header)");
  // Every receiver says whether the layout is its own, so a mismatch stops both ends (not a hang).
  std::vector<at::Tensor> bad{at::zeros({pg.size()}, at::kDouble)};
  pg.allreduce_sum(bad, label + " (layout check)");
  std::string ranks;
  for (int r = 0; r < pg.size(); ++r)
    if (bad[0][r].item<double>() != 0) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  if (!ranks.empty())
    throw std::runtime_error(
        "weight sync '" + label + "': rank(s) " + ranks + " hold a policy whose tensors differ from rank " +
        std::to_string(pg.rank()) + "'s (" + std::to_string(layout.count) + " tensors, " +
        std::to_string(layout.bytes) +
        " bytes): the rollout workers must load the trainer's model (same config, dtype and LoRA)");
  std::vector<at::Tensor> v{flat};
  pg.broadcast(v, pg.rank(), label);
}

int64_t receive_weights(ProcessGroup& pg, int root, at::Tensor& flat, const WeightLayout& expect,
                        const at::Device& device, const std::string& label) {
  std::vector<at::Tensor> h{at::zeros({4}, at::kLong)};
  pg.broadcast(h, root, label + " (header)");
  const auto* p = h[0].data_ptr<int64_t>();
  const bool mismatch = p[0] != expect.count || p[1] != expect.bytes || static_cast<uint64_t>(p[2]) != expect.hash;
  std::vector<at::Tensor> bad{at::zeros({pg.size()}, at::kDouble)};
  bad[0][pg.rank()] = mismatch ? 1.0 : 0.0;
  pg.allreduce_sum(bad, label + " (layout check)");
  if (mismatch)
    throw std::runtime_error(
        "weight sync '" + label + "': rank " + std::to_string(root) + " sends " + std::to_string(p[0]) + " tensors (" +
        std::to_string(p[1]) + " bytes), rank " + std::to_string(pg.rank()) + "'s policy has " +
        std::to_string(expect.count) + " tensors (" + std::to_string(expect.bytes) + " bytes)" +
        (p[0] == expect.count && p[1] == expect.bytes ? " with other names, shapes or dtypes" : "") +
        ": the rollout worker must load the trainer's model (same config, dtype and LoRA)");
  for (int r = 0; r < pg.size(); ++r)
    if (bad[0][r].item<double>() != 0)
      throw std::runtime_error("weight sync '" + label + "': rank " + std::to_string(r) +
                               " holds a policy whose tensors differ from the sender's; no weights received");
  if (!flat.defined() || flat.numel() != expect.bytes || flat.device() != device)
    flat = at::empty({expect.bytes}, at::TensorOptions().dtype(at::kByte).device(device));
  std::vector<at::Tensor> v{flat};
  pg.broadcast(v, root, label);
  return p[3];
}

}  // namespace gtr::dist

#include "parallel/process_group.h"
#include <dlfcn.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <chrono>
#include <map>
#include <stdexcept>
#include "parallel/gloo/gloo_backend_api.h"
#if defined(GTR_WITH_CUDA) && defined(GTR_WITH_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace gtr::dist {

// An exception's message without libtorch's C++ backtrace.
static std::string message_of(const std::exception& e) {
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  return e.what();
}

void ProcessGroup::fail(const std::string& op, const std::string& label, const std::string& what) const {
  throw std::runtime_error("rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " + op + " '" + label +
                           "' failed (" + backend_ + "): " + what +
                           " -- another rank exited, or the collective timed out after " +
                           std::to_string(timeout_ms_ / 1000) + " s");
}

void ProcessGroup::allreduce_sum(std::vector<at::Tensor>& tensors, const std::string& label, int64_t bucket_bytes) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (size_ == 1) return;
  at::NoGradGuard no_grad;
  // Buckets per dtype, in tensor order (every rank has the same list, so the same buckets).
  std::map<at::ScalarType, std::vector<size_t>> by_dtype;
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto st = tensors[i].scalar_type();
    if (st != at::kFloat && st != at::kDouble)
      throw std::invalid_argument("allreduce_sum '" + label + "': tensor " + std::to_string(i) +
                                  " is not float32/float64");
    by_dtype[st].push_back(i);
  }
  for (auto& [st, idx] : by_dtype) {
    const int64_t elem = static_cast<int64_t>(c10::elementSize(st));
    size_t k = 0;
    while (k < idx.size()) {
      std::vector<size_t> bucket;
      int64_t bytes = 0;
      while (k < idx.size() && (bucket.empty() || bytes + tensors[idx[k]].numel() * elem <= bucket_bytes)) {
        bytes += tensors[idx[k]].numel() * elem;
        bucket.push_back(idx[k++]);
      }
      const at::Device dev = comm_device(tensors[bucket[0]]);
      std::vector<at::Tensor> flat_parts;
      for (size_t i : bucket) flat_parts.push_back(tensors[i].reshape({-1}).to(dev));
      at::Tensor flat = at::cat(flat_parts).contiguous();
      try {
        allreduce_flat(flat);
      } catch (const std::exception& e) {
        fail("all-reduce", label, message_of(e));
      }
      int64_t off = 0;
      for (size_t i : bucket) {
        const int64_t n = tensors[i].numel();
        tensors[i].copy_(flat.narrow(0, off, n).view(tensors[i].sizes()));
        off += n;
      }
    }
  }
}

void ProcessGroup::broadcast(std::vector<at::Tensor>& tensors, int root, const std::string& label) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (size_ == 1) return;
  at::NoGradGuard no_grad;
  for (auto& t : tensors) {
    const at::Device dev = comm_device(t);
    // A contiguous tensor on the collective's device is broadcast in place (a packed weight buffer
    // of several GB is not copied twice); any other goes through a contiguous copy. Bytes, so any
    // dtype travels unchanged.
    const bool in_place = t.is_contiguous() && t.device() == dev;
    at::Tensor flat = in_place ? t.detach().view({-1}).view(at::kByte)
                               : t.detach().reshape({-1}).to(dev).contiguous().view(at::kByte).clone();
    try {
      broadcast_flat(flat, root);
    } catch (const std::exception& e) {
      fail("broadcast", label, message_of(e));
    }
    if (!in_place) t.copy_(flat.view(t.scalar_type()).view(t.sizes()));
  }
}

void ProcessGroup::barrier(const std::string& label) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (size_ == 1) return;
  try {
    barrier_impl();
  } catch (const std::exception& e) {
    fail("barrier", label, message_of(e));
  }
}

at::Tensor ProcessGroup::all_gather_cat(const at::Tensor& local, const std::string& label) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  at::Tensor l = local.to(at::kCPU, at::kDouble).reshape({-1}).contiguous();
  if (size_ == 1) return l.clone();
  std::vector<at::Tensor> counts{at::zeros({size_}, at::kDouble)};
  counts[0][rank_] = static_cast<double>(l.numel());
  allreduce_sum(counts, label + " (counts)");
  int64_t total = 0, offset = 0;
  for (int r = 0; r < size_; ++r) {
    const auto n = static_cast<int64_t>(counts[0][r].item<double>());
    if (r < rank_) offset += n;
    total += n;
  }
  std::vector<at::Tensor> buf{at::zeros({total}, at::kDouble)};
  if (l.numel()) buf[0].narrow(0, offset, l.numel()).copy_(l);
  if (total) allreduce_sum(buf, label);
  return buf[0];
}

void ProcessGroup::reduce_scatter_flat(at::Tensor& input, at::Tensor& out) {
  allreduce_flat(input);
  const int64_t c = out.numel();
  out.copy_(input.narrow(0, static_cast<int64_t>(rank_) * c, c));
}

void ProcessGroup::reduce_scatter_sum(at::Tensor& input, at::Tensor& out, const std::string& label) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (input.scalar_type() != at::kFloat || out.scalar_type() != at::kFloat || !input.is_contiguous() ||
      !out.is_contiguous() || input.numel() != out.numel() * size_)
    throw std::invalid_argument("reduce_scatter_sum '" + label + "': input must be float32 [world size x " +
                                std::to_string(out.numel()) + "], got " + std::to_string(input.numel()));
  if (size_ == 1) {
    out.copy_(input);
    return;
  }
  at::NoGradGuard no_grad;
  try {
    reduce_scatter_flat(input, out);
  } catch (const std::exception& e) {
    fail("reduce-scatter", label, message_of(e));
  }
}

void ProcessGroup::all_gather(const at::Tensor& in, at::Tensor& out, const std::string& label) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (in.scalar_type() != out.scalar_type() || !in.is_contiguous() || !out.is_contiguous() ||
      out.numel() != in.numel() * size_)
    throw std::invalid_argument("all_gather '" + label + "': out must be [world size x " + std::to_string(in.numel()) +
                                "] of the input's dtype, got " + std::to_string(out.numel()));
  if (size_ == 1) {
    out.copy_(in);
    return;
  }
  at::NoGradGuard no_grad;
  try {
    all_gather_flat(in, out);
  } catch (const std::exception& e) {
    fail("all-gather", label, message_of(e));
  }
}

// ---------------------------------------------------------------------------------------------
// Store

static c10::intrusive_ptr<c10d::Store> connect_store(const GroupOptions& opt) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(opt.master_port);
  so.isServer = opt.store_server;
  so.numWorkers = opt.size;
  so.waitWorkers = false;  // the backend's own rendezvous waits for every rank
  so.timeout = std::chrono::milliseconds(opt.timeout_ms);
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(opt.master_addr, so);
    return c10::make_intrusive<c10d::PrefixStore>("gtr", store);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(opt.rank) + ": cannot " +
                             (opt.store_server ? "serve" : "connect to") + " the rendezvous store at " +
                             opt.master_addr + ":" + std::to_string(opt.master_port) +
                             " (MASTER_ADDR / MASTER_PORT): " + message_of(e));
  }
}

// ---------------------------------------------------------------------------------------------
// gloo (CPU), through the dlopen'ed shim.

namespace {

struct GlooApi {
  decltype(&gtr_gloo_create) create;
  decltype(&gtr_gloo_allreduce_sum) allreduce;
  decltype(&gtr_gloo_broadcast) broadcast;
  decltype(&gtr_gloo_barrier) barrier;
  decltype(&gtr_gloo_allgather) allgather;
  decltype(&gtr_gloo_destroy) destroy;
};

const GlooApi& gloo_api(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, GlooApi> loaded;
  std::lock_guard<std::mutex> lock(mu);
  auto it = loaded.find(path);
  if (it != loaded.end()) return it->second;
  // RTLD_LOCAL: the shim's gloo never joins a scope shared with libtorch_cpu's own gloo symbols.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h)
    throw std::runtime_error(std::string("the CPU distributed backend (gloo) is not available: ") + dlerror() +
                             ". Install Debian's libgloo-dev (apt-get install libgloo-dev; scripts/setup.sh does) "
                             "and rebuild the addon (npm run build:native)");
  GlooApi a;
  auto sym = [&](const char* n) {
    void* s = dlsym(h, n);
    if (!s) throw std::runtime_error(path + ": missing symbol " + n);
    return s;
  };
  a.create = reinterpret_cast<decltype(a.create)>(sym("gtr_gloo_create"));
  a.allreduce = reinterpret_cast<decltype(a.allreduce)>(sym("gtr_gloo_allreduce_sum"));
  a.broadcast = reinterpret_cast<decltype(a.broadcast)>(sym("gtr_gloo_broadcast"));
  a.barrier = reinterpret_cast<decltype(a.barrier)>(sym("gtr_gloo_barrier"));
  a.allgather = reinterpret_cast<decltype(a.allgather)>(sym("gtr_gloo_allgather"));
  a.destroy = reinterpret_cast<decltype(a.destroy)>(sym("gtr_gloo_destroy"));
  return loaded.emplace(path, a).first->second;
}

int store_set(void* self, const char* key, const char* data, size_t n, char* err, size_t len) {
  try {
    static_cast<c10d::Store*>(self)->set(key, std::vector<uint8_t>(data, data + n));
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, len, "store set %s: %s", key, message_of(e).c_str());
    return -1;
  }
}

int store_get(void* self, const char* key, void (*sink)(void*, const char*, size_t), void* ctx, char* err, size_t len) {
  try {
    auto v = static_cast<c10d::Store*>(self)->get(key);
    sink(ctx, reinterpret_cast<const char*>(v.data()), v.size());
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, len, "store get %s: %s", key, message_of(e).c_str());
    return -1;
  }
}

class GlooGroup : public ProcessGroup {
 public:
  GlooGroup(const GroupOptions& opt) : ProcessGroup(opt.rank, opt.size, "gloo"), api_(gloo_api(opt.gloo_library)) {
    timeout_ms_ = opt.timeout_ms;
    store_ = connect_store(opt);
    auto gloo_store = c10::make_intrusive<c10d::PrefixStore>("gloo", store_);
    gtr_kv_store cb{gloo_store.get(), &store_set, &store_get};
    char err[1024] = {0};
    if (api_.create(opt.rank, opt.size, &cb, opt.iface.c_str(), opt.hostname.c_str(), opt.timeout_ms, &pg_, err,
                    sizeof err) != 0)
      throw std::runtime_error("rank " + std::to_string(opt.rank) + ": gloo could not connect the " +
                               std::to_string(opt.size) + " ranks: " + err);
  }
  ~GlooGroup() override {
    if (pg_) api_.destroy(pg_);
  }

 protected:
  void allreduce_flat(at::Tensor& flat) override {
    char err[1024] = {0};
    const int dtype = flat.scalar_type() == at::kDouble ? 1 : 0;
    if (api_.allreduce(pg_, flat.data_ptr(), static_cast<size_t>(flat.numel()), dtype, err, sizeof err) != 0)
      throw std::runtime_error(err);
  }
  void broadcast_flat(at::Tensor& flat, int root) override {
    char err[1024] = {0};
    if (api_.broadcast(pg_, flat.data_ptr(), static_cast<size_t>(flat.numel()), root, err, sizeof err) != 0)
      throw std::runtime_error(err);
  }
  void barrier_impl() override {
    char err[1024] = {0};
    if (api_.barrier(pg_, err, sizeof err) != 0) throw std::runtime_error(err);
  }
  void all_gather_flat(const at::Tensor& in, at::Tensor& out) override {
    char err[1024] = {0};
    at::Tensor i = in.to(at::kCPU).contiguous();
    at::Tensor o = out.device().is_cpu() ? out : at::empty_like(out, out.options().device(at::kCPU));
    const size_t bytes = static_cast<size_t>(i.numel()) * i.element_size();
    if (api_.allgather(pg_, i.data_ptr(), o.data_ptr(), bytes, err, sizeof err) != 0) throw std::runtime_error(err);
    if (!out.device().is_cpu()) out.copy_(o);
  }
  at::Device comm_device(const at::Tensor&) const override { return at::kCPU; }

 private:
  const GlooApi& api_;
  c10::intrusive_ptr<c10d::Store> store_;
  void* pg_ = nullptr;
};

#if defined(GTR_WITH_CUDA) && defined(GTR_WITH_NCCL)
// NCCL through c10d (the engine DDP / FSDP, verl and OpenRLHF use). Tensors must be on this rank's GPU.
class NcclGroup : public ProcessGroup {
 public:
  NcclGroup(const GroupOptions& opt) : ProcessGroup(opt.rank, opt.size, "nccl"), device_(at::kCUDA, opt.device_index) {
    timeout_ms_ = opt.timeout_ms;
    store_ = connect_store(opt);
    auto o = c10d::ProcessGroupNCCL::Options::create();
    o->timeout = std::chrono::milliseconds(opt.timeout_ms);
    pg_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store_), opt.rank,
                                                      opt.size, o);
  }

 protected:
  void allreduce_flat(at::Tensor& flat) override {
    std::vector<at::Tensor> v{flat};
    pg_->allreduce(v)->wait();
  }
  void broadcast_flat(at::Tensor& flat, int root) override {
    std::vector<at::Tensor> v{flat};
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    pg_->broadcast(v, bo)->wait();
  }
  void barrier_impl() override {
    c10d::BarrierOptions bo;
    bo.device_ids = {static_cast<int64_t>(device_.index())};
    pg_->barrier(bo)->wait();
  }
  // The flat-buffer collectives FSDP uses (reduce_scatter_tensor / all_gather_into_tensor).
  void reduce_scatter_flat(at::Tensor& input, at::Tensor& out) override {
    at::Tensor o = out.to(device_), i = input.to(device_);
    pg_->_reduce_scatter_base(o, i)->wait();
    if (!o.is_same(out)) out.copy_(o);
  }
  void all_gather_flat(const at::Tensor& in, at::Tensor& out) override {
    at::Tensor o = out.to(device_), i = in.to(device_).contiguous();
    pg_->_allgather_base(o, i)->wait();
    if (!o.is_same(out)) out.copy_(o);
  }
  at::Device comm_device(const at::Tensor&) const override { return device_; }

 private:
  at::Device device_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> pg_;
};
#endif

// World size 1: every collective is the identity (no store, no backend).
class SingleGroup : public ProcessGroup {
 public:
  explicit SingleGroup(const std::string& backend) : ProcessGroup(0, 1, backend) {}

 protected:
  void allreduce_flat(at::Tensor&) override {}
  void broadcast_flat(at::Tensor&, int) override {}
  void barrier_impl() override {}
  void all_gather_flat(const at::Tensor& in, at::Tensor& out) override { out.copy_(in); }
  at::Device comm_device(const at::Tensor& t) const override { return t.device(); }
};

}  // namespace

std::shared_ptr<ProcessGroup> create_process_group(const GroupOptions& opt) {
  if (opt.size < 1 || opt.rank < 0 || opt.rank >= opt.size)
    throw std::invalid_argument("rank " + std::to_string(opt.rank) + " is not in [0, world size " +
                                std::to_string(opt.size) + ")");
  if (opt.backend == "nccl") {
#if defined(GTR_WITH_CUDA) && defined(GTR_WITH_NCCL)
    return std::make_shared<NcclGroup>(opt);
#else
    throw std::runtime_error(
        "--nproc-per-node on CUDA needs NCCL, and this addon was built without it (no CUDA, or no nccl.h at build "
        "time): install torch's NCCL package (pip install nvidia-nccl-cu13 for a CUDA 13 torch) and rebuild with "
        "npm run build:native, or train on CPU (model.device: cpu)");
#endif
  }
  if (opt.backend != "gloo")
    throw std::invalid_argument("unknown distributed backend '" + opt.backend + "' (gloo | nccl)");
  if (opt.size == 1) return std::make_shared<SingleGroup>("gloo");
  return std::make_shared<GlooGroup>(opt);
}

}  // namespace gtr::dist

// The one collectives interface the trainer and the TS data-parallel layer use: sum all-reduce,
// broadcast and barrier over a group of ranks, on an existing distributed engine (never on
// hand-written socket code): NCCL through c10d::ProcessGroupNCCL for CUDA tensors, and gloo
// (Debian's libgloo, through the gtr_gloo.so shim, see gloo/gloo_backend_api.h) for CPU tensors.
// Rendezvous (exchanging addresses / NCCL ids) goes through c10d::TCPStore, which torchrun's agent
// may already serve on MASTER_PORT.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gtr::dist {

struct GroupOptions {
  int rank = 0;
  int size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // True: this process serves the TCPStore (rank 0 of a `gtr --nproc-per-node` launch). False: connect
  // as a client (torchrun's agent serves the store; TORCHELASTIC_USE_AGENT_STORE=True).
  bool store_server = false;
  std::string backend = "gloo";  // "gloo" (CPU) | "nccl" (CUDA)
  int64_t timeout_ms = 30 * 60 * 1000;
  std::string gloo_library;  // path of gtr_gloo.so
  std::string iface;         // gloo: network interface (GLOO_SOCKET_IFNAME); "" = by host name
  std::string hostname;      // gloo: address to bind when iface is ""; "" = this host's name
  int device_index = 0;      // nccl: the CUDA device of this rank (LOCAL_RANK)
};

// A group of ranks. Every rank must call the same collectives in the same order; calls are
// serialised by a mutex. Failures (a peer that died, a timeout) throw std::runtime_error naming this
// rank, the operation and its label.
class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& backend() const { return backend_; }

  // In-place sum over ranks of each tensor (float32 or float64; any device the backend handles),
  // packed into flat buckets of at most `bucket_bytes` per dtype (DDP's 25 MB by default).
  void allreduce_sum(std::vector<at::Tensor>& tensors, const std::string& label, int64_t bucket_bytes = 25 << 20);
  // In-place broadcast of each tensor's bytes from `root` (any dtype).
  void broadcast(std::vector<at::Tensor>& tensors, int root, const std::string& label);
  void barrier(const std::string& label);
  // Concatenation over ranks (in rank order) of each rank's 1-D float64 `local` (lengths may differ),
  // built from two sum all-reduces of zero-padded buffers (adding zeros is exact, so the result is
  // bitwise each rank's values).
  at::Tensor all_gather_cat(const at::Tensor& local, const std::string& label);

  // Sharded training state (ZeRO / FSDP; src: Rajbhandari et al. 2020, "ZeRO", sec. 5; PyTorch
  // FSDP's FlatParameter). reduce_scatter_sum: `input` is float32 [size() * c] laid out as size()
  // consecutive chunks of c elements, chunk k destined for rank k; `out` float32 [c] receives the
  // sum over ranks of this rank's chunk. NCCL: c10d's _reduce_scatter_base. gloo: torch 2.13's
  // c10d::ProcessGroupGloo has _reduce_scatter_base, but this addon's CPU backend is Debian's gloo
  // behind gtr_gloo.so (gloo/gloo_backend_api.h says why), and that gloo has no options-style
  // reduce-scatter (only the legacy ReduceScatterHalvingDoubling algorithm class,
  // with an int count, no tag or timeout and a full-size receive buffer of its own), so the chunk
  // is a sum all-reduce of `input` (gloo's ring, itself a reduce-scatter then an all-gather: twice
  // the bytes of a reduce-scatter, the same result) of which this rank keeps its chunk.
  // Throws (fail) like allreduce_sum when a peer is gone; std::invalid_argument on bad shapes.
  void reduce_scatter_sum(at::Tensor& input, at::Tensor& out, const std::string& label);
  // all_gather: `in` [c] (any dtype, contiguous) from every rank into `out` [size() * c] (same
  // dtype), rank k's at [k c, (k+1) c). NCCL: c10d's _allgather_base; gloo: gloo::allgather on bytes.
  void all_gather(const at::Tensor& in, at::Tensor& out, const std::string& label);

 protected:
  ProcessGroup(int rank, int size, std::string backend) : rank_(rank), size_(size), backend_(std::move(backend)) {}
  // One contiguous flat tensor, summed in place.
  virtual void allreduce_flat(at::Tensor& flat) = 0;
  virtual void broadcast_flat(at::Tensor& flat, int root) = 0;
  virtual void barrier_impl() = 0;
  virtual void reduce_scatter_flat(at::Tensor& input, at::Tensor& out);  // default: all-reduce, keep
  virtual void all_gather_flat(const at::Tensor& in, at::Tensor& out) = 0;
  // The device collectives run on (CPU for gloo).
  virtual at::Device comm_device(const at::Tensor& t) const = 0;
  [[noreturn]] void fail(const std::string& op, const std::string& label, const std::string& what) const;

  int rank_, size_;
  std::string backend_;
  std::recursive_mutex mu_;
  int64_t timeout_ms_ = 0;
};

std::shared_ptr<ProcessGroup> create_process_group(const GroupOptions& opt);

}  // namespace gtr::dist

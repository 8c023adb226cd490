// Memory accounting by walking real tensors: bytes per category (weights, reference, gradients,
// optimizer, gathered, kv_pool), each storage counted once however many tensors or categories
// view it (its storage nbytes, not numel x element size, so a view of a larger buffer counts the
// buffer). What an owner walks at report time (the model's parameters, the optimizer's state) goes
// through a Counter; what lives outside those owners (the rollout's paged KV pool, ZeRO-3 gathered
// layer parameters, flat shard buffers) is registered while it lives with track().
//
// track() holds weak references to the storages, so a registration never keeps memory alive: a
// freed buffer simply counts 0. The registry keeps each category's peak: the largest sum of live
// registered bytes seen at a registration or a set_in_use() (allocation points, where peaks happen).
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

namespace gtr::memory {

// Bytes of one category, split into named parts (dtype names, optimizer state names, registration names).
struct Usage {
  int64_t bytes = 0;
  std::map<std::string, int64_t> parts;
  int64_t peak = 0;         // registered categories: the largest live bytes seen (else = bytes at report time)
  int64_t in_use = -1;      // kv_pool: bytes of the blocks in use now (-1: not reported by any registration)
  int64_t peak_in_use = 0;  // kv_pool: the largest in_use seen
};

// Accumulates tensors into categories; a storage already counted (in any category) adds nothing.
class Counter {
 public:
  // Adds t's storage (when defined and not yet seen) to category/part; returns the bytes added.
  int64_t add(const std::string& category, const std::string& part, const at::Tensor& t);
  // The same for a storage (nullptr adds nothing).
  int64_t add_storage(const std::string& category, const std::string& part, const c10::StorageImpl* s);
  std::map<std::string, Usage>& categories() { return cats_; }
  int64_t total() const;

 private:
  std::map<std::string, Usage> cats_;
  std::unordered_set<const void*> seen_;
};

// A registration of live buffers (RAII, move-only): unregisters on destruction.
class Tracked {
 public:
  Tracked() = default;
  Tracked(Tracked&& o) noexcept : id_(o.id_) { o.id_ = 0; }
  Tracked& operator=(Tracked&& o) noexcept;
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked();
  // Bytes of this registration in use now (the KV pool's allocated blocks); updates the category's peak.
  void set_in_use(int64_t bytes);
  void reset();

 private:
  friend Tracked track(const std::string&, const std::string&, const std::vector<at::Tensor>&);
  explicit Tracked(int64_t id) : id_(id) {}
  int64_t id_ = 0;
};

// Registers `tensors` under category ("weights", "gradients", "optimizer", "gathered", "kv_pool")
// and part `name` for as long as the returned handle lives. Thread-safe. Throws
// std::invalid_argument for an unknown category.
Tracked track(const std::string& category, const std::string& name, const std::vector<at::Tensor>& tensors);

// Adds every live registration to `c` (after the owner walked its own tensors, so a storage both
// walked and registered counts once) and fills peak / in_use of the registered categories.
void add_registered(Counter& c);
// Forgets the recorded peaks (they restart from the live bytes).
void reset_peaks();

// The part name of a tensor's dtype: "float32", "bfloat16", "float16", else c10's name.
std::string dtype_part(const at::Tensor& t);

// The category names in report order.
const std::vector<std::string>& category_names();

}  // namespace gtr::memory

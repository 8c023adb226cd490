#include "core/memory.h"
#include <algorithm>
#include <mutex>
#include <stdexcept>

namespace gtr::memory {

const std::vector<std::string>& category_names() {
  static const std::vector<std::string> names = {"weights",   "reference", "gradients",
                                                 "optimizer", "gathered",  "kv_pool"};
  return names;
}

std::string dtype_part(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return "float32";
    case at::kBFloat16:
      return "bfloat16";
    case at::kHalf:
      return "float16";
    default:
      return c10::toString(t.scalar_type());
  }
}

int64_t Counter::add(const std::string& category, const std::string& part, const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) {
    cats_[category];
    return 0;
  }
  return add_storage(category, part, t.storage().unsafeGetStorageImpl());
}

int64_t Counter::add_storage(const std::string& category, const std::string& part, const c10::StorageImpl* s) {
  Usage& u = cats_[category];
  if (!s || !seen_.insert(s).second) return 0;
  const auto n = static_cast<int64_t>(s->nbytes());
  u.bytes += n;
  u.parts[part] += n;
  u.peak = std::max(u.peak, u.bytes);
  return n;
}

int64_t Counter::total() const {
  int64_t n = 0;
  for (const auto& [k, u] : cats_) n += u.bytes;
  return n;
}

namespace {

struct Entry {
  std::string category, name;
  std::vector<c10::weak_intrusive_ptr<c10::StorageImpl>> storages;
  int64_t in_use = -1;
};

struct Registry {
  std::mutex mu;
  int64_t next_id = 1;
  std::map<int64_t, Entry> entries;
  std::map<std::string, int64_t> peak, peak_in_use;

  // Live bytes of a category, each storage once (caller holds mu).
  int64_t live_bytes(const std::string& category) {
    std::unordered_set<const void*> seen;
    int64_t n = 0;
    for (auto& [id, e] : entries) {
      if (e.category != category) continue;
      for (auto& w : e.storages) {
        auto s = w.lock();
        if (s && seen.insert(s.get()).second) n += static_cast<int64_t>(s->nbytes());
      }
    }
    return n;
  }
  int64_t live_in_use(const std::string& category) {
    int64_t n = 0;
    for (auto& [id, e] : entries)
      if (e.category == category && e.in_use > 0) n += e.in_use;
    return n;
  }
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: handles may outlive static destruction order
  return *r;
}

}  // namespace

Tracked track(const std::string& category, const std::string& name, const std::vector<at::Tensor>& tensors) {
  const auto& names = category_names();
  if (category == "reference" || std::find(names.begin(), names.end(), category) == names.end())
    throw std::invalid_argument("memory::track: unknown category '" + category +
                                "' (known: weights, gradients, optimizer, gathered, kv_pool)");
  Entry e;
  e.category = category;
  e.name = name;
  for (const auto& t : tensors)
    if (t.defined() && t.has_storage()) e.storages.push_back(t.storage().getWeakStorageImpl());
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  const int64_t id = r.next_id++;
  r.entries.emplace(id, std::move(e));
  r.peak[category] = std::max(r.peak[category], r.live_bytes(category));
  return Tracked(id);
}

Tracked& Tracked::operator=(Tracked&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    o.id_ = 0;
  }
  return *this;
}

Tracked::~Tracked() { reset(); }

void Tracked::reset() {
  if (!id_) return;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.entries.erase(id_);
  id_ = 0;
}

void Tracked::set_in_use(int64_t bytes) {
  if (!id_) return;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.entries.find(id_);
  if (it == r.entries.end()) return;
  it->second.in_use = bytes;
  const std::string& c = it->second.category;
  r.peak_in_use[c] = std::max(r.peak_in_use[c], r.live_in_use(c));
}

void add_registered(Counter& c) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (auto& [id, e] : r.entries) {
    for (auto& w : e.storages) {
      auto s = w.lock();
      if (!s) continue;
      c.add_storage(e.category, e.name, s.get());
    }
  }
  for (const std::string& name : {std::string("gathered"), std::string("kv_pool")}) {
    Usage& u = c.categories()[name];
    u.peak = std::max(r.peak[name], u.bytes);
    r.peak[name] = u.peak;
    bool any = false;
    for (auto& [id, e] : r.entries)
      if (e.category == name && e.in_use >= 0) any = true;
    u.in_use = any ? r.live_in_use(name) : (name == "kv_pool" ? 0 : -1);
    u.peak_in_use = r.peak_in_use[name];
  }
}

void reset_peaks() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.peak.clear();
  r.peak_in_use.clear();
  for (const auto& name : category_names()) {
    r.peak[name] = r.live_bytes(name);
    r.peak_in_use[name] = r.live_in_use(name);
  }
}

}  // namespace gtr::memory

#include "generate/block_manager.h"
#include <algorithm>

namespace gtr {

BlockManager::BlockManager(int64_t num_blocks) {
  if (num_blocks < 2) throw std::invalid_argument("BlockManager: need at least 2 blocks (block 0 is the null block)");
  ref_.assign(static_cast<size_t>(num_blocks), 0);
  free_.reserve(static_cast<size_t>(num_blocks - 1));
  // Pushed high to low so the first alloc() returns block 1.
  for (int64_t b = num_blocks - 1; b >= 1; --b) free_.push_back(static_cast<int32_t>(b));
}

int32_t BlockManager::alloc() {
  if (free_.empty()) throw std::runtime_error("BlockManager: no free KV block (scheduler bug)");
  const int32_t b = free_.back();
  free_.pop_back();
  ref_[static_cast<size_t>(b)] = 1;
  peak_ = std::max(peak_, used_blocks());
  return b;
}

void BlockManager::retain(int32_t block) {
  if (block <= 0 || block >= num_blocks() || ref_[static_cast<size_t>(block)] <= 0)
    throw std::logic_error("BlockManager: retain of a block that is not in use: " + std::to_string(block));
  ++ref_[static_cast<size_t>(block)];
}

void BlockManager::release(int32_t block) {
  if (block <= 0 || block >= num_blocks() || ref_[static_cast<size_t>(block)] <= 0)
    throw std::logic_error("BlockManager: release of a block that is not in use: " + std::to_string(block));
  if (--ref_[static_cast<size_t>(block)] == 0) free_.push_back(block);
}

void BlockManager::release_all(std::vector<int32_t>& table) {
  for (auto it = table.rbegin(); it != table.rend(); ++it) release(*it);
  table.clear();
}

std::string BlockManager::check(const std::vector<int32_t>& expected_refs) const {
  if (expected_refs.size() != ref_.size()) return "expected_refs has the wrong size";
  if (ref_[0] != 0) return "the null block has references";
  std::vector<int> on_stack(ref_.size(), 0);
  for (int32_t b : free_) {
    if (b <= 0 || b >= num_blocks()) return "free stack holds an invalid block " + std::to_string(b);
    if (++on_stack[static_cast<size_t>(b)] > 1) return "block " + std::to_string(b) + " is on the free stack twice";
  }
  for (size_t b = 1; b < ref_.size(); ++b) {
    if (ref_[b] < 0) return "block " + std::to_string(b) + " has a negative reference count";
    if ((ref_[b] == 0) != (on_stack[b] == 1))
      return "block " + std::to_string(b) + (ref_[b] == 0 ? " is neither free nor used" : " is both free and used");
    if (ref_[b] != expected_refs[b])
      return "block " + std::to_string(b) + " has " + std::to_string(ref_[b]) + " references, the tables hold " +
             std::to_string(expected_refs[b]);
  }
  return "";
}

}  // namespace gtr

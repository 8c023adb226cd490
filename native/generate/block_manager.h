// The KV block allocator of the rollout engine (paged KV cache): fixed-size blocks of one pool,
// reference-counted so the n samples of a prompt share the prompt's full blocks.
//
// Design after nano-vllm (nanovllm/engine/block_manager.py) and vLLM's block pool
// (vllm/v1/core/block_pool.py), without content hashing: the samples that share a prompt are
// known when the call starts, so sharing is decided by the engine, not discovered by hashing.
// - Block 0 is the null block: never handed out. Padding rows write into it and masked gathers
//   read it (its contents are never used in a result).
// - Free blocks sit on a LIFO stack, so the most recently freed (hot) blocks are reused first and
//   the same sequence of calls always yields the same block ids (deterministic).
// - alloc() hands out a block at reference count 1; retain() adds a reference (sharing);
//   release() drops one and returns the block to the free stack at 0.
// Host only, no torch: the engine maps block ids to pool rows.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace gtr {

class BlockManager {
 public:
  // num_blocks includes the null block 0, so num_blocks - 1 are allocatable. Throws
  // std::invalid_argument when num_blocks < 2.
  explicit BlockManager(int64_t num_blocks);

  int64_t num_blocks() const { return static_cast<int64_t>(ref_.size()); }
  int64_t capacity() const { return num_blocks() - 1; }  // allocatable blocks
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int64_t used_blocks() const { return capacity() - free_blocks(); }
  int64_t peak_used() const { return peak_; }
  int32_t ref_count(int32_t block) const { return ref_.at(static_cast<size_t>(block)); }

  // A free block at reference count 1. Throws std::runtime_error when none is free (the engine
  // checks free_blocks() first; reaching this is a scheduling bug).
  int32_t alloc();
  // One more reference to a used block. Throws std::logic_error for the null block or a free block.
  void retain(int32_t block);
  // Drops one reference; at 0 the block is free again. Throws std::logic_error for the null block or
  // a free block (a double free).
  void release(int32_t block);
  // Releases every block of `table` (in reverse, as nano-vllm, so the tail is reused first) and
  // clears it.
  void release_all(std::vector<int32_t>& table);

  // Invariant check: every block is either free (ref 0, on the stack once) or used (ref > 0), the
  // null block is neither, and the references equal `expected_refs` (the engine's count of table
  // entries per block). Returns an empty string when all hold, else what is wrong.
  std::string check(const std::vector<int32_t>& expected_refs) const;

 private:
  std::vector<int32_t> ref_;
  std::vector<int32_t> free_;
  int64_t peak_ = 0;
};

}  // namespace gtr

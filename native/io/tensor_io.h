// Memory-mapped tensor reads and safetensors writes (model weights and named-tensor state files). Untrusted headers are
// parsed and validated in TS (src/checkpoint/safetensors.ts); this side re-checks every byte range against the file
// size and the shape x dtype size, so a bad range is an error naming the file and tensor, never a crash.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gtr {

// Where one tensor lies in a file (absolute byte offset and length), with its stored dtype tag
// ('F32' | 'BF16' | 'F16') and shape.
struct TensorSource {
  std::string name, file, dtype;
  std::vector<int64_t> shape;
  uint64_t offset = 0, length = 0;
};

// A read-only memory map of a whole file; unmapped on destruction.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws std::runtime_error naming the file
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

// The one dtype tag table of this side: F32, BF16, F16 (loadable as weights), I64, I32, U8.
at::ScalarType safetensors_dtype(const std::string& tag);  // a weight dtype; throws on any other tag
std::string safetensors_tag(at::ScalarType t);             // throws on a dtype without a tag

// A CPU tensor viewing the mapped bytes of `src` (valid while `file` lives). Throws
// std::runtime_error naming file and tensor when the range or size is wrong.
at::Tensor view_mapped(const MappedFile& file, const TensorSource& src);

// Writes `header` (the complete prefix: u64 length + JSON) then each tensor's bytes, converted to
// `dtype` (or each in its own dtype when none is given), in order; fsyncs and closes. On failure the
// partial file is removed and std::runtime_error names the file.
void write_safetensors(const std::string& path, const std::vector<uint8_t>& header,
                       const std::vector<at::Tensor>& tensors, std::optional<at::ScalarType> dtype);

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Writes `tensors` (any of F32 / BF16 / F16 / I64 / I32 / U8, each stored in its own dtype, contiguous,
// copied to CPU) as one safetensors file with `metadata` (string -> string, may be empty), through
// write_safetensors (fsynced; a partial file removed on failure). It does not commit the file: the
// caller writes to a temporary path and renames it (src/checkpoint/save.ts writeFileAtomicWith, the
// one atomic commit). Throws std::runtime_error naming the file on I/O failure or an unsupported dtype.
void write_named_tensors(const std::string& path, const NamedTensors& tensors,
                         const std::vector<std::pair<std::string, std::string>>& metadata);

// The header prefix (u64 LE length + JSON padded with spaces to a multiple of 8) that
// write_named_tensors writes for these names, shapes and dtypes, in order.
std::vector<uint8_t> named_tensors_header(const NamedTensors& tensors,
                                          const std::vector<std::pair<std::string, std::string>>& metadata);

// Reads a file written by write_named_tensors into `dst` (copying into each tensor in place, on
// its device). The file's header must equal, byte for byte, the header these names / shapes /
// dtypes / metadata produce, so no untrusted JSON is parsed. Throws std::runtime_error naming the
// file when it is missing, truncated, or does not match.
void read_named_tensors(const std::string& path, NamedTensors& dst,
                        const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace gtr

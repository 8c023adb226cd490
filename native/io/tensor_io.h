// Memory-mapped tensor reads and safetensors writes. Untrusted headers are parsed and validated in
// TS (src/checkpoint/safetensors.ts); this side re-checks every byte range against the file size
// and the shape x dtype size, so a bad range is an error naming the file and tensor, never a crash.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
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

at::ScalarType safetensors_dtype(const std::string& tag);  // throws on an unsupported tag
std::string safetensors_tag(at::ScalarType t);

// A CPU tensor viewing the mapped bytes of `src` (valid while `file` lives). Throws
// std::runtime_error naming file and tensor when the range or size is wrong.
at::Tensor view_mapped(const MappedFile& file, const TensorSource& src);

// Writes `header` (the complete prefix: u64 length + JSON) then each tensor's bytes, converted to
// `dtype` (or each in its own dtype when none is given), in order; fsyncs and closes. On failure the
// partial file is removed and std::runtime_error names the file.
void write_safetensors(const std::string& path, const std::vector<uint8_t>& header,
                       const std::vector<at::Tensor>& tensors, std::optional<at::ScalarType> dtype);

}  // namespace gtr

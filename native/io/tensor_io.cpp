#include "io/tensor_io.h"
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gtr {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw std::runtime_error(path + ": cannot stat: " + std::strerror(errno));
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw std::runtime_error(path + ": mmap failed: " + std::strerror(errno));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

at::ScalarType safetensors_dtype(const std::string& tag) {
  if (tag == "F32") return at::kFloat;
  if (tag == "BF16") return at::kBFloat16;
  if (tag == "F16") return at::kHalf;
  throw std::runtime_error("unsupported safetensors dtype '" + tag + "' (F32, BF16, F16 are loaded)");
}

std::string safetensors_tag(at::ScalarType t) {
  if (t == at::kFloat) return "F32";
  if (t == at::kBFloat16) return "BF16";
  if (t == at::kHalf) return "F16";
  throw std::runtime_error(std::string("no safetensors tag for dtype ") + c10::toString(t));
}

at::Tensor view_mapped(const MappedFile& file, const TensorSource& src) {
  const std::string where = file.path() + ": tensor '" + src.name + "'";
  at::ScalarType st = safetensors_dtype(src.dtype);
  uint64_t numel = 1;
  for (int64_t d : src.shape) {
    if (d < 0) throw std::runtime_error(where + ": negative dimension");
    numel *= static_cast<uint64_t>(d);
  }
  const uint64_t expect = numel * c10::elementSize(st);
  if (expect != src.length)
    throw std::runtime_error(where + ": byte length " + std::to_string(src.length) + " != shape x dtype size " +
                             std::to_string(expect));
  if (src.offset > file.size() || src.length > file.size() - src.offset)
    throw std::runtime_error(where + ": bytes [" + std::to_string(src.offset) + ", " +
                             std::to_string(src.offset + src.length) + ") lie past the end of the file (" +
                             std::to_string(file.size()) + " bytes)");
  if (numel == 0) return at::empty(src.shape, at::TensorOptions().dtype(st));
  // from_blob does not own the memory: the caller keeps the map alive while the view is used.
  return at::from_blob(const_cast<uint8_t*>(file.data() + src.offset), src.shape, at::TensorOptions().dtype(st));
}

void write_safetensors(const std::string& path, const std::vector<uint8_t>& header,
                       const std::vector<at::Tensor>& tensors, std::optional<at::ScalarType> dtype) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error(path + ": cannot create: " + std::strerror(errno));
  auto fail = [&](const char* what) {
    int e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    throw std::runtime_error(path + ": " + what + ": " + std::strerror(e));
  };
  auto write_all = [&](const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    while (n > 0) {
      ssize_t w = ::write(fd, b, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail("write failed");
      }
      b += w;
      n -= static_cast<size_t>(w);
    }
  };
  write_all(header.data(), header.size());
  for (const at::Tensor& t : tensors) {
    at::Tensor c = (dtype ? t.detach().to(at::kCPU, *dtype) : t.detach().to(at::kCPU)).contiguous();
    if (c.numel() > 0) write_all(c.data_ptr(), c.numel() * c.element_size());
  }
  if (::fsync(fd) != 0) fail("fsync failed");
  if (::close(fd) != 0) {
    ::unlink(path.c_str());
    throw std::runtime_error(path + ": close failed: " + std::strerror(errno));
  }
}

}  // namespace gtr

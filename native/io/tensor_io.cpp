#include "io/tensor_io.h"
#include <ATen/core/grad_mode.h>
#include <cerrno>
#include <cstdio>
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

// The one table of safetensors dtype tags on this side (src/checkpoint/safetensors.ts holds the TS one).
namespace {
struct DTypeTag {
  const char* tag;
  at::ScalarType type;
  bool weights;  // loadable as model weights
};
constexpr DTypeTag kDTypeTags[] = {
    {"F32", at::kFloat, true}, {"BF16", at::kBFloat16, true}, {"F16", at::kHalf, true},
    {"I64", at::kLong, false}, {"I32", at::kInt, false},      {"U8", at::kByte, false},
};
}  // namespace

at::ScalarType safetensors_dtype(const std::string& tag) {
  for (const auto& e : kDTypeTags)
    if (e.weights && tag == e.tag) return e.type;
  throw std::runtime_error("unsupported safetensors dtype '" + tag + "' (F32, BF16, F16 are loaded)");
}

std::string safetensors_tag(at::ScalarType t) {
  for (const auto& e : kDTypeTags)
    if (e.type == t) return e.tag;
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

// ---------------------------------------------------------------------------------------------
// Named-tensor safetensors files (the trainer state).

static std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      o += '\\', o += ch;
    else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      o += buf;
    } else
      o += ch;
  }
  return o + "\"";
}

std::vector<uint8_t> named_tensors_header(const NamedTensors& tensors,
                                          const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::string j = "{";
  if (!metadata.empty()) {
    j += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i)
      j += (i ? "," : "") + json_string(metadata[i].first) + ":" + json_string(metadata[i].second);
    j += "}";
  }
  uint64_t pos = 0;
  bool first = metadata.empty();
  for (const auto& [name, t] : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    j +=
        (first ? "" : ",") + json_string(name) + ":{\"dtype\":\"" + safetensors_tag(t.scalar_type()) + "\",\"shape\":[";
    first = false;
    for (int64_t d = 0; d < t.dim(); ++d) j += (d ? "," : "") + std::to_string(t.size(d));
    j += "],\"data_offsets\":[" + std::to_string(pos) + "," + std::to_string(pos + bytes) + "]}";
    pos += bytes;
  }
  j += "}";
  while (j.size() % 8 != 0) j += ' ';
  std::vector<uint8_t> out(8 + j.size());
  uint64_t n = j.size();
  for (int b = 0; b < 8; ++b) out[b] = static_cast<uint8_t>((n >> (8 * b)) & 0xff);
  std::memcpy(out.data() + 8, j.data(), j.size());
  return out;
}

void write_named_tensors(const std::string& path, const NamedTensors& tensors,
                         const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::vector<at::Tensor> ordered;
  ordered.reserve(tensors.size());
  for (const auto& nt : tensors) ordered.push_back(nt.second);
  write_safetensors(path, named_tensors_header(tensors, metadata), ordered, std::nullopt);
}

void read_named_tensors(const std::string& path, NamedTensors& dst,
                        const std::vector<std::pair<std::string, std::string>>& metadata) {
  const std::vector<uint8_t> expect = named_tensors_header(dst, metadata);
  MappedFile f(path);
  if (f.size() < expect.size())
    throw std::runtime_error(path + ": trainer state file is " + std::to_string(f.size()) +
                             " bytes, shorter than the expected header (" + std::to_string(expect.size()) + " bytes)");
  if (std::memcmp(f.data(), expect.data(), expect.size()) != 0) {
    const bool ours = std::string(reinterpret_cast<const char*>(f.data()), std::min<uint64_t>(f.size(), 4096))
                          .find("gtr-trainer-state") != std::string::npos;
    throw std::runtime_error(path + (ours ? ": trainer state does not match this trainer (parameter names or shapes, "
                                            "fp32 masters, or device RNG differ from when it was saved)"
                                          : ": not a GTR trainer state file"));
  }
  uint64_t pos = expect.size();
  for (auto& [name, t] : dst) {
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    if (pos + bytes > f.size())
      throw std::runtime_error(path + ": file ends inside tensor '" + name + "' (truncated state file)");
    if (bytes > 0) {
      at::Tensor src =
          at::from_blob(const_cast<uint8_t*>(f.data() + pos), t.sizes(), at::TensorOptions().dtype(t.scalar_type()));
      at::NoGradGuard no_grad;
      t.copy_(src);
    }
    pos += bytes;
  }
  if (pos != f.size())
    throw std::runtime_error(path + ": " + std::to_string(f.size() - pos) + " trailing bytes after the last tensor");
}

}  // namespace gtr

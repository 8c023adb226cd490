// gtr_gloo.so: the C interface of gloo_backend_api.h over gloo (Debian libgloo-dev). Built without
// libtorch so it binds only to the system gloo (see the header for why).
#include "gloo_backend_api.h"
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#include <unistd.h>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

void put_err(char* err, size_t len, const std::string& msg) {
  if (!err || len == 0) return;
  std::strncpy(err, msg.c_str(), len - 1);
  err[len - 1] = '\0';
}

// gloo's rendezvous store over the addon's callbacks.
class CallbackStore : public gloo::rendezvous::Store {
 public:
  explicit CallbackStore(const gtr_kv_store& s) : s_(s) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    char err[512] = {0};
    if (s_.set(s_.self, key.c_str(), data.data(), data.size(), err, sizeof err) != 0) throw std::runtime_error(err);
  }
  std::vector<char> get(const std::string& key) override {
    std::vector<char> out;
    char err[512] = {0};
    auto sink = [](void* ctx, const char* d, size_t n) { static_cast<std::vector<char>*>(ctx)->assign(d, d + n); };
    if (s_.get(s_.self, key.c_str(), sink, &out, err, sizeof err) != 0) throw std::runtime_error(err);
    return out;
  }
  // get() blocks until the key exists, so waiting is a get per key.
  void wait(const std::vector<std::string>& keys) override {
    for (const auto& k : keys) get(k);
  }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds&) override { wait(keys); }

 private:
  gtr_kv_store s_;
};

struct Group {
  std::shared_ptr<gloo::rendezvous::Context> ctx;
  std::chrono::milliseconds timeout;
  uint32_t tag = 0;
};

template <typename F>
int guard(char* err, size_t len, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    put_err(err, len, e.what());
  } catch (...) {
    put_err(err, len, "unknown gloo error");
  }
  return -1;
}

}  // namespace

extern "C" {

int gtr_gloo_create(int rank, int size, const gtr_kv_store* store, const char* iface, const char* hostname,
                    int64_t timeout_ms, void** out, char* err, size_t err_len) {
  return guard(err, err_len, [&] {
    gloo::transport::tcp::attr attr;
    if (iface && *iface)
      attr.iface = iface;
    else if (hostname && *hostname)
      attr.hostname = hostname;
    else {
      char host[256] = {0};
      gethostname(host, sizeof host - 1);
      attr.hostname = host;
    }
    auto dev = gloo::transport::tcp::CreateDevice(attr);
    auto g = std::make_unique<Group>();
    g->timeout = std::chrono::milliseconds(timeout_ms);
    g->ctx = std::make_shared<gloo::rendezvous::Context>(rank, size);
    g->ctx->setTimeout(g->timeout);
    CallbackStore s(*store);
    g->ctx->connectFullMesh(s, dev);
    *out = g.release();
  });
}

int gtr_gloo_allreduce_sum(void* pg, void* data, size_t count, int dtype, char* err, size_t err_len) {
  return guard(err, err_len, [&] {
    auto* g = static_cast<Group*>(pg);
    gloo::AllreduceOptions opts(g->ctx);
    opts.setTag(g->tag++);
    opts.setTimeout(g->timeout);
    if (dtype == 0) {
      opts.setOutput(static_cast<float*>(data), count);
      opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    } else if (dtype == 1) {
      opts.setOutput(static_cast<double*>(data), count);
      opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<double>));
    } else {
      throw std::invalid_argument("allreduce: unsupported dtype " + std::to_string(dtype));
    }
    gloo::allreduce(opts);
  });
}

int gtr_gloo_broadcast(void* pg, void* data, size_t bytes, int root, char* err, size_t err_len) {
  return guard(err, err_len, [&] {
    auto* g = static_cast<Group*>(pg);
    gloo::BroadcastOptions opts(g->ctx);
    opts.setTag(g->tag++);
    opts.setTimeout(g->timeout);
    opts.setRoot(root);
    opts.setOutput(static_cast<uint8_t*>(data), bytes);
    gloo::broadcast(opts);
  });
}

int gtr_gloo_allgather(void* pg, const void* in, void* out, size_t bytes, char* err, size_t err_len) {
  return guard(err, err_len, [&] {
    auto* g = static_cast<Group*>(pg);
    gloo::AllgatherOptions opts(g->ctx);
    opts.setTag(g->tag++);
    opts.setTimeout(g->timeout);
    opts.setInput(const_cast<uint8_t*>(static_cast<const uint8_t*>(in)), bytes);
    opts.setOutput(static_cast<uint8_t*>(out), bytes * static_cast<size_t>(g->ctx->size));
    gloo::allgather(opts);
  });
}

int gtr_gloo_barrier(void* pg, char* err, size_t err_len) {
  return guard(err, err_len, [&] {
    auto* g = static_cast<Group*>(pg);
    gloo::BarrierOptions opts(g->ctx);
    opts.setTag(g->tag++);
    opts.setTimeout(g->timeout);
    gloo::barrier(opts);
  });
}

void gtr_gloo_destroy(void* pg) { delete static_cast<Group*>(pg); }
}

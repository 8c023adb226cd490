// The C interface of the CPU collectives backend (gtr_gloo.so), a thin shim over Debian's gloo
// (libgloo-dev). It is a separate shared library with a C ABI, dlopen'ed RTLD_LOCAL by the addon,
// because libtorch_cpu exports its own (newer, ABI-incompatible) gloo:: symbols: keeping the two
// gloos in different link scopes means neither binds to the other's symbols.
// Every function returns 0 on success, or -1 with a message in `err` (NUL-terminated, truncated to
// err_len).
#pragma once
#include <stddef.h>
#include <stdint.h>

extern "C" {

// Key-value store callbacks (the addon backs them with c10d::TCPStore), used only to exchange the
// peers' addresses during connect. Each returns 0, or -1 with a message in err.
struct gtr_kv_store {
  void* self;
  int (*set)(void* self, const char* key, const char* data, size_t n, char* err, size_t err_len);
  // Blocks until `key` exists (up to the store's timeout), then calls sink(sink_ctx, data, n).
  int (*get)(void* self, const char* key, void (*sink)(void*, const char*, size_t), void* sink_ctx, char* err,
             size_t err_len);
};

// Connects `size` ranks (full mesh over TCP). iface: network interface name or "" (then hostname
// is used: an address or host name to bind; "" = this machine's host name). timeout_ms bounds the
// connect and every later collective.
int gtr_gloo_create(int rank, int size, const gtr_kv_store* store, const char* iface, const char* hostname,
                    int64_t timeout_ms, void** out, char* err, size_t err_len);
// In-place sum all-reduce. dtype: 0 = float32, 1 = float64.
int gtr_gloo_allreduce_sum(void* pg, void* data, size_t count, int dtype, char* err, size_t err_len);
// In-place broadcast of `bytes` bytes from `root`.
int gtr_gloo_broadcast(void* pg, void* data, size_t bytes, int root, char* err, size_t err_len);
// All-gather of `bytes` bytes from every rank into out (size x bytes, rank order).
int gtr_gloo_allgather(void* pg, const void* in, void* out, size_t bytes, char* err, size_t err_len);
int gtr_gloo_barrier(void* pg, char* err, size_t err_len);
void gtr_gloo_destroy(void* pg);
}

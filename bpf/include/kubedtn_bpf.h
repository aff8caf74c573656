/* The few definitions kubedtn's eBPF programs need, on top of the kernel's uapi headers
 * (Debian's linux-libc-dev): section and map-definition macros, the helpers as numbered
 * function pointers, byte order. Written here so the build needs clang and the uapi
 * headers only, not libbpf-dev. */
#ifndef KUBEDTN_BPF_H
#define KUBEDTN_BPF_H

#include <linux/bpf.h>
#include <linux/types.h>

#define SEC(name) __attribute__((section(name), used))
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))

/* BTF-defined map members: the value lives in the type (array length), as libbpf reads it
 * and as kubedtn.ebpf.elf reads it. */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

/* Helpers are called by number: the verifier resolves the "address" to the helper. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
                                   __u64 flags) = (void *)BPF_FUNC_map_update_elem;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_delete_elem;
static long (*bpf_sock_hash_update)(struct bpf_sock_ops *skops, void *map, void *key,
                                    __u64 flags) = (void *)BPF_FUNC_sock_hash_update;
static long (*bpf_msg_redirect_hash)(struct sk_msg_md *msg, void *map, void *key,
                                     __u64 flags) = (void *)BPF_FUNC_msg_redirect_hash;
static long (*bpf_sock_ops_cb_flags_set)(struct bpf_sock_ops *skops,
                                         int flags) = (void *)BPF_FUNC_sock_ops_cb_flags_set;
static __u64 (*bpf_get_netns_cookie)(void *ctx) = (void *)BPF_FUNC_get_netns_cookie;
static long (*bpf_skb_load_bytes)(const void *skb, __u32 offset, void *to,
                                  __u32 len) = (void *)BPF_FUNC_skb_load_bytes;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define bpf_ntohl(x) __builtin_bswap32(x)
#define bpf_htonl(x) __builtin_bswap32(x)
#define bpf_htons(x) __builtin_bswap16(x)
#define bpf_ntohs(x) __builtin_bswap16(x)
#else
#define bpf_ntohl(x) (x)
#define bpf_htonl(x) (x)
#define bpf_htons(x) (x)
#define bpf_ntohs(x) (x)
#endif

#endif

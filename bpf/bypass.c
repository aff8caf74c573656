/* TCP/IP bypass between sockets of one host (kubedtn issue 17).
 *
 * kubedtn_sockops (cgroup v2, sock_ops): an established TCP socket goes into
 *   kubedtn_socks under (netns cookie, local, remote), and its flow (local, remote) into
 *   kubedtn_flows with the namespace that holds it, unless the marker saw its SYN leave
 *   a shaped interface.
 * kubedtn_sk_msg (sk_msg verdict on kubedtn_socks): a send on such a socket goes straight
 *   into the peer socket's receive queue; the peer is the socket whose flow is ours
 *   reversed, in the one namespace kubedtn_flows names for it.
 * kubedtn_marker (tc clsact egress, direct action): a SYN leaving an interface whose link
 *   has properties marks its socket, so the emulated rate, delay or loss is never skipped.
 *
 * Addresses are kept as IPv6: an IPv4 address as ::ffff:a.b.c.d, so an AF_INET socket and
 * its AF_INET6 peer on a dual-stack listener (v4-mapped) name the same flow. The netns
 * cookie is in the socket key because two twins may use the same addresses and ports. */
#include "kubedtn_bpf.h"

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#define AF_INET 2
#define AF_INET6 10

enum counter { COUNT_REDIRECTED = 0, COUNT_PASSED = 1, COUNT_MARKED = 2, COUNT_MAX = 3 };

struct flow {
	__u32 local_ip[4]; /* network order */
	__u32 remote_ip[4];
	__u32 local_port; /* host order */
	__u32 remote_port;
};

struct sock_key {
	__u64 netns;
	struct flow flow;
};

/* Who holds a flow: netns 0 when two namespaces hold the same one (then neither side is
 * redirected, because its peer is not known for sure). */
struct holder {
	__u64 netns;
	__u32 sockets;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, struct sock_key);
	__type(value, __u32);
} kubedtn_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow);
	__type(value, struct holder);
} kubedtn_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sock_key);
	__type(value, __u32);
} kubedtn_marked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} kubedtn_counts SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *value = bpf_map_lookup_elem(&kubedtn_counts, &which);
	if (value)
		*value += 1;
}

static __always_inline void v4_mapped(__u32 *ip6, __u32 ip4)
{
	ip6[0] = 0;
	ip6[1] = 0;
	ip6[2] = bpf_htonl(0xffff);
	ip6[3] = ip4;
}

/* sock_ops and sk_msg_md name the same fields: the one reader for both. Ports: local in
 * host order, remote in network order in the upper half (the kernel's layout). */
#define READ_SOCK_KEY(ctx, key)                                                            \
	({                                                                                 \
		int known = 1;                                                             \
		(key)->netns = bpf_get_netns_cookie(ctx);                                  \
		if ((ctx)->family == AF_INET) {                                            \
			v4_mapped((key)->flow.local_ip, (ctx)->local_ip4);                 \
			v4_mapped((key)->flow.remote_ip, (ctx)->remote_ip4);               \
		} else if ((ctx)->family == AF_INET6) {                                    \
			(key)->flow.local_ip[0] = (ctx)->local_ip6[0];                     \
			(key)->flow.local_ip[1] = (ctx)->local_ip6[1];                     \
			(key)->flow.local_ip[2] = (ctx)->local_ip6[2];                     \
			(key)->flow.local_ip[3] = (ctx)->local_ip6[3];                     \
			(key)->flow.remote_ip[0] = (ctx)->remote_ip6[0];                   \
			(key)->flow.remote_ip[1] = (ctx)->remote_ip6[1];                   \
			(key)->flow.remote_ip[2] = (ctx)->remote_ip6[2];                   \
			(key)->flow.remote_ip[3] = (ctx)->remote_ip6[3];                   \
		} else {                                                                   \
			known = 0;                                                         \
		}                                                                          \
		(key)->flow.local_port = (ctx)->local_port;                                \
		(key)->flow.remote_port = bpf_ntohl((ctx)->remote_port);                   \
		known;                                                                     \
	})

static __always_inline void hold_flow(struct sock_key *key)
{
	struct holder *held = bpf_map_lookup_elem(&kubedtn_flows, &key->flow);
	if (!held) {
		struct holder fresh = { .netns = key->netns, .sockets = 1 };
		bpf_map_update_elem(&kubedtn_flows, &key->flow, &fresh, BPF_NOEXIST);
		return;
	}
	if (held->netns != key->netns)
		held->netns = 0;
	__sync_fetch_and_add(&held->sockets, 1);
}

static __always_inline void release_flow(struct sock_key *key)
{
	struct holder *held = bpf_map_lookup_elem(&kubedtn_flows, &key->flow);
	if (!held)
		return;
	if (held->sockets <= 1)
		bpf_map_delete_elem(&kubedtn_flows, &key->flow);
	else
		__sync_fetch_and_add(&held->sockets, -1);
}

SEC("sockops")
int kubedtn_sockops(struct bpf_sock_ops *skops)
{
	struct sock_key key = {};

	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		if (!READ_SOCK_KEY(skops, &key))
			return 1;
		if (bpf_map_lookup_elem(&kubedtn_marked, &key)) {
			bpf_map_delete_elem(&kubedtn_marked, &key);
			return 1;
		}
		hold_flow(&key);
		/* To hear when it leaves ESTABLISHED and release its flow. */
		bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
		bpf_sock_hash_update(skops, &kubedtn_socks, &key, BPF_ANY);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		/* args[0]: the old state, args[1]: the new one. */
		if (skops->args[0] != BPF_TCP_ESTABLISHED || skops->args[1] == BPF_TCP_ESTABLISHED)
			return 1;
		if (READ_SOCK_KEY(skops, &key))
			release_flow(&key);
		break;
	}
	return 1;
}

SEC("sk_msg")
int kubedtn_sk_msg(struct sk_msg_md *msg)
{
	struct sock_key own = {};
	struct sock_key peer = {};
	struct holder *held;

	if (!READ_SOCK_KEY(msg, &own))
		goto pass;
	/* Our own flow held by another namespace too: the peer found below could be theirs. */
	held = bpf_map_lookup_elem(&kubedtn_flows, &own.flow);
	if (!held || held->netns != own.netns)
		goto pass;

	__builtin_memcpy(peer.flow.local_ip, own.flow.remote_ip, sizeof(own.flow.remote_ip));
	__builtin_memcpy(peer.flow.remote_ip, own.flow.local_ip, sizeof(own.flow.local_ip));
	peer.flow.local_port = own.flow.remote_port;
	peer.flow.remote_port = own.flow.local_port;
	held = bpf_map_lookup_elem(&kubedtn_flows, &peer.flow);
	if (!held || held->netns == 0)
		goto pass;
	peer.netns = held->netns;

	/* A peer gone from the map makes the helper answer drop: send normally instead. */
	if (bpf_msg_redirect_hash(msg, &kubedtn_socks, &peer, BPF_F_INGRESS) != SK_PASS)
		goto pass;
	count(COUNT_REDIRECTED);
	return SK_PASS;
pass:
	count(COUNT_PASSED);
	return SK_PASS;
}

SEC("tc")
int kubedtn_marker(struct __sk_buff *skb)
{
	struct sock_key key = {};
	struct tcphdr tcp;
	__u32 tcp_offset;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0 || ip.protocol != IPPROTO_TCP)
			return TC_ACT_OK;
		v4_mapped(key.flow.local_ip, ip.saddr);
		v4_mapped(key.flow.remote_ip, ip.daddr);
		tcp_offset = ETH_HLEN + ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		/* A SYN with extension headers is not marked: the kernel sends none. */
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)) < 0 || ip6.nexthdr != IPPROTO_TCP)
			return TC_ACT_OK;
		__builtin_memcpy(key.flow.local_ip, &ip6.saddr, 16);
		__builtin_memcpy(key.flow.remote_ip, &ip6.daddr, 16);
		tcp_offset = ETH_HLEN + sizeof(ip6);
	} else {
		return TC_ACT_OK;
	}
	if (bpf_skb_load_bytes(skb, tcp_offset, &tcp, sizeof(tcp)) < 0 || !tcp.syn)
		return TC_ACT_OK;
	key.netns = bpf_get_netns_cookie(skb);
	key.flow.local_port = bpf_ntohs(tcp.source);
	key.flow.remote_port = bpf_ntohs(tcp.dest);
	__u32 one = 1;
	bpf_map_update_elem(&kubedtn_marked, &key, &one, BPF_ANY);
	count(COUNT_MARKED);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";

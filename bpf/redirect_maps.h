/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The maps of the XDP redirector. Key and value types, names and sizes come
 * from lb_shared.h, which userspace includes too; this file only declares the
 * maps for the BPF side. Userspace fills listeners and sources at start, one
 * AF_XDP socket per RX queue in xsks, syn_limit and client_limit (at start
 * and on reload), and reads counters; syn_tat and client_tat are the
 * program's own state.
 */
#ifndef MQTTLB_BPF_REDIRECT_MAPS_H
#define MQTTLB_BPF_REDIRECT_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf/lb_shared.h"

/* RX queue index → AF_XDP socket fd. The kernel refuses BTF on XSKMAP, hence
 * sizes instead of types (as libxdp's xsk_def_xdp_prog.c). */
struct {
        __uint(type, BPF_MAP_TYPE_XSKMAP);
        __uint(max_entries, LB_XSKS_MAX);
        __uint(key_size, sizeof(__u32));
        __uint(value_size, sizeof(__u32));
} xsks SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, LB_LISTENERS_MAX);
        __type(key, struct lb_listener_key);
        __type(value, struct lb_listener_val);
} listeners SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, LB_SOURCES_MAX);
        __type(key, struct lb_source_key);
        __type(value, struct lb_source_val);
} sources SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, LB_CNT__MAX);
        __type(key, __u32);
        __type(value, __u64);
} counters SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct lb_syn_limit);
} syn_limit SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, __u64);
} syn_tat SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct lb_client_limit);
} client_limit SEC(".maps");

/* LRU: a flood from millions of addresses cannot fill it, it evicts the
 * sources that have been quiet longest (lb_shared.h, LB_CLIENTS_MAX). One
 * map shared by every CPU: a client's SYNs may arrive on any queue. */
struct {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __uint(max_entries, LB_CLIENTS_MAX);
        __type(key, struct lb_client_key);
        __type(value, __u64);
} client_tat SEC(".maps");

#endif /* MQTTLB_BPF_REDIRECT_MAPS_H */

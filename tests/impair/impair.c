/*
 * mqttlb-impair: attaches, tunes, reads and detaches the tc impairment program
 * (impair.bpf.c) on a device, for the live impaired-wire tests. A test tool,
 * not installed.
 *
 *   mqttlb-impair attach DEV [--netns NAME] [--ingress] [--loss PPM] [--dup PPM]
 *                             [--match payload|tcp|all] [--seed N] [--allow-gso]
 *   mqttlb-impair set    DEV [--netns NAME] [--ingress] [--loss PPM] [--dup PPM]
 *                             [--match payload|tcp|all] [--seed N]
 *   mqttlb-impair stats  DEV [--netns NAME] [--ingress|--egress]
 *   mqttlb-impair detach DEV [--netns NAME] [--ingress|--egress]
 *
 * Nothing is pinned: the filter is attached with a fixed tc handle and a
 * priority per direction (impair.h), and `set`/`stats` find its maps through
 * the attached program (tc query → program id → its map ids → by name). So
 * the settings live exactly as long as the filter, nothing is left in
 * /sys/fs/bpf, and the tool works under `ip netns exec` (which hides the
 * host's bpffs) as well as with --netns from the host namespace.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "impair.h"
#include "impair.skel.h"

static const char *prog_name = "mqttlb-impair";
/* Set around the tc queries whose "no such filter/qdisc" answers are expected:
 * libbpf would print the kernel's message for each. */
static bool quiet_libbpf;

static void usage(FILE *f)
{
        fprintf(f,
                "Usage:\n"
                "  %1$s attach DEV [--netns NAME] [--ingress] [--loss PPM] [--dup PPM]\n"
                "                        [--match payload|tcp|all] [--seed N] [--allow-gso]\n"
                "  %1$s set    DEV [--netns NAME] [--ingress] [--loss PPM] [--dup PPM]\n"
                "                        [--match payload|tcp|all] [--seed N]\n"
                "  %1$s stats  DEV [--netns NAME] [--ingress|--egress]\n"
                "  %1$s detach DEV [--netns NAME] [--ingress|--egress]\n"
                "\n"
                "A tc (clsact) BPF filter on DEV that drops --loss and duplicates --dup\n"
                "frames per million (a value ending in %% is a percentage: 3%% = 30000) of\n"
                "the frames it matches: TCP segments with payload (payload), every TCP\n"
                "segment (tcp, the default) or every frame (all). Egress unless --ingress;\n"
                "both directions may carry one filter each. --seed N: a per-CPU xorshift\n"
                "generator seeded with N instead of bpf_get_prandom_u32 (0: back to it).\n"
                "set changes only the options given, while the filter runs. stats prints\n"
                "one line per attached direction:\n"
                "  DEV DIR seen=N dropped=N duplicated=N dup_failed=N loss_ppm=N dup_ppm=N "
                "match=M\n"
                "stats and detach act on both directions unless one is named; detach\n"
                "removes the clsact qdisc too when attach created it.\n"
                "--netns NAME enters /run/netns/NAME first (ip netns's names).\n"
                "attach refuses an egress device whose frames may be GSO super-segments\n"
                "(gso_max_segs > 1, TSO or GSO on): run\n"
                "  ip link set dev DEV gso_max_segs 1; ethtool -K DEV tx off tso off gso off\n"
                "or pass --allow-gso.\n"
                "Exit status: 0 success, 1 failure, 2 usage error.\n",
                prog_name);
}

struct opts {
        const char *cmd;
        const char *dev;
        const char *netns;
        int dir;                   /* -1 both (stats/detach), 0 egress, 1 ingress */
        long long loss, dup, seed; /* -1: not given */
        int match;                 /* -1: not given */
        bool allow_gso;
};

static int usage_error(const char *fmt, const char *arg)
{
        fprintf(stderr, "%s: ", prog_name);
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\nTry '%s --help'.\n", prog_name);
        return 2;
}

/* PPM or PERCENT%: per million, 0..1,000,000; -1 when malformed. */
static long long parse_ppm(const char *s)
{
        char *end;
        double v;

        errno = 0;
        if (s[0] && s[strlen(s) - 1] == '%') {
                v = strtod(s, &end);
                if (errno || end != s + strlen(s) - 1 || v < 0 || v > 100)
                        return -1;
                return (long long)(v * 10000.0 + 0.5);
        }
        long long n = strtoll(s, &end, 10);
        if (errno || *end || end == s || n < 0 || n > 1000000)
                return -1;
        return n;
}

static const char *match_name(__u32 m)
{
        switch (m) {
        case IMPAIR_MATCH_PAYLOAD: return "payload";
        case IMPAIR_MATCH_TCP: return "tcp";
        case IMPAIR_MATCH_ALL: return "all";
        }
        return "?";
}

static int parse_args(int argc, char **argv, struct opts *o)
{
        static const struct option longopts[] = {
            {"netns", required_argument, NULL, 'n'}, {"ingress", no_argument, NULL, 'i'},
            {"egress", no_argument, NULL, 'e'},      {"loss", required_argument, NULL, 'l'},
            {"dup", required_argument, NULL, 'd'},   {"match", required_argument, NULL, 'm'},
            {"seed", required_argument, NULL, 's'},  {"allow-gso", no_argument, NULL, 'g'},
            {"help", no_argument, NULL, 'h'},        {0},
        };
        int c;
        char *end;

        *o = (struct opts){.dir = -1, .loss = -1, .dup = -1, .seed = -1, .match = -1};
        if (argc < 2)
                return usage_error("%s", "missing command");
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
                usage(stdout);
                exit(0);
        }
        o->cmd = argv[1];
        if (strcmp(o->cmd, "attach") && strcmp(o->cmd, "set") && strcmp(o->cmd, "stats") &&
            strcmp(o->cmd, "detach"))
                return usage_error("unknown command '%s'", o->cmd);
        optind = 2;
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case 'n': o->netns = optarg; break;
                case 'i': o->dir = 1; break;
                case 'e': o->dir = 0; break;
                case 'l':
                        if ((o->loss = parse_ppm(optarg)) < 0)
                                return usage_error("--loss '%s': expected 0..1000000 (per "
                                                   "million) or 0..100%%",
                                                   optarg);
                        break;
                case 'd':
                        if ((o->dup = parse_ppm(optarg)) < 0)
                                return usage_error("--dup '%s': expected 0..1000000 (per "
                                                   "million) or 0..100%%",
                                                   optarg);
                        break;
                case 'm':
                        if (!strcmp(optarg, "payload"))
                                o->match = IMPAIR_MATCH_PAYLOAD;
                        else if (!strcmp(optarg, "tcp"))
                                o->match = IMPAIR_MATCH_TCP;
                        else if (!strcmp(optarg, "all"))
                                o->match = IMPAIR_MATCH_ALL;
                        else
                                return usage_error("--match '%s': expected payload, tcp or all",
                                                   optarg);
                        break;
                case 's':
                        errno = 0;
                        o->seed = strtoll(optarg, &end, 0);
                        if (errno || *end || end == optarg || o->seed < 0)
                                return usage_error("--seed '%s': expected a non-negative integer",
                                                   optarg);
                        break;
                case 'g': o->allow_gso = true; break;
                case 'h': usage(stdout); exit(0);
                default: return usage_error("%s", "bad option");
                }
        }
        if (optind >= argc)
                return usage_error("%s: missing DEV", o->cmd);
        o->dev = argv[optind++];
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);
        if (strlen(o->dev) >= IFNAMSIZ)
                return usage_error("device name '%s' is too long", o->dev);
        if (!strcmp(o->cmd, "attach") || !strcmp(o->cmd, "set")) {
                if (o->dir < 0)
                        o->dir = 0;
        } else if (o->loss >= 0 || o->dup >= 0 || o->match >= 0 || o->seed >= 0) {
                return usage_error("%s takes no --loss, --dup, --match or --seed", o->cmd);
        }
        if (o->loss >= 0 && o->dup >= 0 && o->loss + o->dup > 1000000)
                return usage_error("%s", "--loss + --dup exceed one million per million");
        return 0;
}

static int enter_netns(const char *name)
{
        char path[PATH_MAX];
        int fd;

        if (strchr(name, '/'))
                snprintf(path, sizeof(path), "%s", name);
        else
                snprintf(path, sizeof(path), "/run/netns/%s", name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "%s: network namespace '%s': cannot open %s: %s\n", prog_name, name,
                        path, strerror(errno));
                return -1;
        }
        if (setns(fd, CLONE_NEWNET) < 0) {
                fprintf(stderr, "%s: network namespace '%s': setns: %s\n", prog_name, name,
                        strerror(errno));
                close(fd);
                return -1;
        }
        close(fd);
        return 0;
}

static const char *dir_name(int ingress)
{
        return ingress ? "ingress" : "egress";
}

/* --- GSO checks ------------------------------------------------------------ */

/* IFLA_GSO_MAX_SEGS of ifindex through rtnetlink; -1 when unknown. */
static long gso_max_segs(int ifindex)
{
        struct {
                struct nlmsghdr nh;
                struct ifinfomsg ifi;
        } req = {
            .nh = {.nlmsg_len = sizeof(req),
                   .nlmsg_type = RTM_GETLINK,
                   .nlmsg_flags = NLM_F_REQUEST,
                   .nlmsg_seq = 1},
            .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex},
        };
        char buf[16384];
        long segs = -1;
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        ssize_t n;

        if (fd < 0)
                return -1;
        if (send(fd, &req, sizeof(req), 0) < 0 || (n = recv(fd, buf, sizeof(buf), 0)) < 0) {
                close(fd);
                return -1;
        }
        close(fd);
        for (struct nlmsghdr *nh = (void *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
                if (nh->nlmsg_type != RTM_NEWLINK)
                        continue;
                struct ifinfomsg *ifi = NLMSG_DATA(nh);
                int len = (int)IFLA_PAYLOAD(nh);

                for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
                        if (a->rta_type == IFLA_GSO_MAX_SEGS && RTA_PAYLOAD(a) >= sizeof(__u32))
                                segs = *(__u32 *)RTA_DATA(a);
        }
        return segs;
}

/* An ethtool boolean (ETHTOOL_GTSO, ETHTOOL_GGSO); -1 when unknown. */
static int ethtool_flag(const char *dev, __u32 cmd)
{
        struct ethtool_value ev = {.cmd = cmd};
        struct ifreq ifr = {0};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

        if (fd < 0)
                return -1;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
        ifr.ifr_data = (void *)&ev;
        rc = ioctl(fd, SIOCETHTOOL, &ifr);
        close(fd);
        return rc < 0 ? -1 : (int)ev.data;
}

static int check_gso(const struct opts *o, int ifindex)
{
        long segs = gso_max_segs(ifindex);
        int tso = ethtool_flag(o->dev, ETHTOOL_GTSO), gso = ethtool_flag(o->dev, ETHTOOL_GGSO);
        const char *ns = o->netns ? o->netns : "this namespace";

        if (segs == 1 && tso == 0 && gso == 0)
                return 0;
        fprintf(stderr,
                "%s: attach %s (%s) egress: its frames may be GSO super-segments "
                "(gso_max_segs %ld, tso %s, gso %s), and the filter would drop or duplicate "
                "up to 45 KB at once; run 'ip link set dev %s gso_max_segs 1' and "
                "'ethtool -K %s tx off tso off gso off' first, or pass --allow-gso\n",
                prog_name, o->dev, ns, segs,
                tso < 0 ? "?"
                : tso   ? "on"
                        : "off",
                gso < 0 ? "?"
                : gso   ? "on"
                        : "off",
                o->dev, o->dev);
        return -1;
}

/* --- finding the attached filter's maps --------------------------------------- */

struct found {
        int cfg, counters, rng; /* map fds, -1 when absent */
};

static void found_close(struct found *f)
{
        if (f->cfg >= 0)
                close(f->cfg);
        if (f->counters >= 0)
                close(f->counters);
        if (f->rng >= 0)
                close(f->rng);
}

/* Finds the maps of the filter on (ifindex, ingress): 1 found, 0 no filter
 * there, -1 error (printed). */
static int find_filter(const struct opts *o, int ifindex, int ingress, struct found *f)
{
        DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                            .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
        DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = IMPAIR_TC_HANDLE,
                            .priority = ingress ? IMPAIR_TC_PRIO_INGRESS : IMPAIR_TC_PRIO_EGRESS);
        struct bpf_prog_info pinfo = {0};
        __u32 ids[16], len = sizeof(pinfo);
        int err, pfd;

        *f = (struct found){-1, -1, -1};
        quiet_libbpf = true;
        err = bpf_tc_query(&hook, &q);
        quiet_libbpf = false;
        if (err == -ENOENT || err == -EINVAL)
                return 0; /* no clsact qdisc, or no filter with our handle/priority */
        if (err) {
                fprintf(stderr, "%s: %s %s: tc query failed: %s\n", prog_name, o->dev,
                        dir_name(ingress), strerror(-err));
                return -1;
        }
        pfd = bpf_prog_get_fd_by_id(q.prog_id);
        if (pfd < 0) {
                fprintf(stderr, "%s: %s %s: program id %u: %s\n", prog_name, o->dev,
                        dir_name(ingress), q.prog_id, strerror(errno));
                return -1;
        }
        pinfo.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
        pinfo.map_ids = (__u64)(unsigned long)ids;
        err = bpf_obj_get_info_by_fd(pfd, &pinfo, &len);
        close(pfd);
        if (err) {
                fprintf(stderr, "%s: %s %s: program info: %s\n", prog_name, o->dev,
                        dir_name(ingress), strerror(errno));
                return -1;
        }
        if (strcmp(pinfo.name, "impair")) {
                fprintf(stderr,
                        "%s: %s %s: the tc filter at handle 0x%x priority 0x%x runs program "
                        "'%s', not mqttlb-impair's\n",
                        prog_name, o->dev, dir_name(ingress), IMPAIR_TC_HANDLE, q.priority,
                        pinfo.name);
                return -1;
        }
        for (__u32 i = 0; i < pinfo.nr_map_ids && i < sizeof(ids) / sizeof(ids[0]); i++) {
                struct bpf_map_info minfo = {0};
                __u32 mlen = sizeof(minfo);
                int mfd = bpf_map_get_fd_by_id(ids[i]);

                if (mfd < 0)
                        continue;
                if (bpf_obj_get_info_by_fd(mfd, &minfo, &mlen)) {
                        close(mfd);
                        continue;
                }
                if (!strcmp(minfo.name, IMPAIR_MAP_CFG) && f->cfg < 0)
                        f->cfg = mfd;
                else if (!strcmp(minfo.name, IMPAIR_MAP_COUNTERS) && f->counters < 0)
                        f->counters = mfd;
                else if (!strcmp(minfo.name, IMPAIR_MAP_RNG) && f->rng < 0)
                        f->rng = mfd;
                else
                        close(mfd);
        }
        if (f->cfg < 0 || f->counters < 0 || f->rng < 0) {
                fprintf(stderr, "%s: %s %s: the attached program lacks its maps\n", prog_name,
                        o->dev, dir_name(ingress));
                found_close(f);
                return -1;
        }
        return 1;
}

/* --- settings ------------------------------------------------------------------- */

static int write_seed(const struct opts *o, int rng_fd, __u64 seed)
{
        int ncpu = libbpf_num_possible_cpus(), err;
        __u32 zero = 0;
        __u64 *v;

        if (ncpu <= 0)
                return -1;
        v = calloc((size_t)ncpu, sizeof(*v));
        if (!v)
                return -1;
        for (int c = 0; c < ncpu; c++) /* distinct non-zero streams per CPU */
                v[c] = (seed + 1) * 0x9e3779b97f4a7c15ull + (__u64)c * 0xbf58476d1ce4e5b9ull;
        err = bpf_map_update_elem(rng_fd, &zero, v, BPF_ANY);
        free(v);
        if (err)
                fprintf(stderr, "%s: %s: writing the seed: %s\n", prog_name, o->dev,
                        strerror(errno));
        return err ? -1 : 0;
}

/* Applies the options given to cfg (and the seed to the rng map); writes it. */
static int apply(const struct opts *o, int cfg_fd, int rng_fd, struct impair_cfg *cfg)
{
        __u32 zero = 0;

        if (o->loss >= 0)
                cfg->loss_ppm = (__u32)o->loss;
        if (o->dup >= 0)
                cfg->dup_ppm = (__u32)o->dup;
        if (o->match >= 0)
                cfg->match = (__u32)o->match;
        if (cfg->loss_ppm + (__u64)cfg->dup_ppm > 1000000) {
                fprintf(stderr, "%s: %s: loss %u + dup %u exceed one million per million\n",
                        prog_name, o->dev, cfg->loss_ppm, cfg->dup_ppm);
                return -1;
        }
        if (o->seed > 0 && write_seed(o, rng_fd, (__u64)o->seed))
                return -1;
        if (o->seed >= 0)
                cfg->seeded = o->seed > 0;
        if (bpf_map_update_elem(cfg_fd, &zero, cfg, BPF_ANY)) {
                fprintf(stderr, "%s: %s: writing the settings: %s\n", prog_name, o->dev,
                        strerror(errno));
                return -1;
        }
        return 0;
}

/* --- commands --------------------------------------------------------------------- */

static int cmd_attach(const struct opts *o, int ifindex)
{
        DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                            .attach_point = o->dir ? BPF_TC_INGRESS : BPF_TC_EGRESS);
        DECLARE_LIBBPF_OPTS(bpf_tc_opts, ao, .handle = IMPAIR_TC_HANDLE,
                            .priority = o->dir ? IMPAIR_TC_PRIO_INGRESS : IMPAIR_TC_PRIO_EGRESS);
        struct impair_cfg cfg = {
            .match = IMPAIR_MATCH_TCP, .ifindex = (__u32)ifindex, .ingress = (__u32)o->dir};
        struct impair *skel;
        struct found f;
        int err, rc = 1;

        if (!o->dir && !o->allow_gso && check_gso(o, ifindex))
                return 1;
        err = find_filter(o, ifindex, o->dir, &f);
        if (err < 0)
                return 1;
        if (err > 0) {
                found_close(&f);
                fprintf(stderr,
                        "%s: attach %s %s: mqttlb-impair is already attached there (use 'set' "
                        "to change it, 'detach' to remove it)\n",
                        prog_name, o->dev, dir_name(o->dir));
                return 1;
        }
        skel = impair__open_and_load();
        if (!skel) {
                fprintf(stderr, "%s: attach %s: loading the BPF program failed: %s\n", prog_name,
                        o->dev, strerror(errno));
                return 1;
        }
        err = bpf_tc_hook_create(&hook);
        if (err == 0)
                cfg.hook_created = 1;
        else if (err != -EEXIST) {
                fprintf(stderr, "%s: attach %s: creating the clsact qdisc failed: %s\n", prog_name,
                        o->dev, strerror(-err));
                goto out;
        }
        if (apply(o, bpf_map__fd(skel->maps.impair_cfg), bpf_map__fd(skel->maps.impair_rng), &cfg))
                goto out_hook;
        ao.prog_fd = bpf_program__fd(skel->progs.impair);
        err = bpf_tc_attach(&hook, &ao);
        if (err) {
                fprintf(stderr, "%s: attach %s %s: tc attach failed: %s\n", prog_name, o->dev,
                        dir_name(o->dir), strerror(-err));
                goto out_hook;
        }
        printf("%s %s: attached (loss %u ppm, dup %u ppm, match %s%s)\n", o->dev, dir_name(o->dir),
               cfg.loss_ppm, cfg.dup_ppm, match_name(cfg.match), cfg.seeded ? ", seeded" : "");
        rc = 0;
        goto out;
out_hook:
        if (cfg.hook_created) {
                hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
                bpf_tc_hook_destroy(&hook);
        }
out:
        impair__destroy(skel);
        return rc;
}

static int cmd_set(const struct opts *o, int ifindex)
{
        struct impair_cfg cfg;
        struct found f;
        __u32 zero = 0;
        int rc = 1, err = find_filter(o, ifindex, o->dir, &f);

        if (err <= 0) {
                if (err == 0)
                        fprintf(stderr, "%s: set %s %s: mqttlb-impair is not attached there\n",
                                prog_name, o->dev, dir_name(o->dir));
                return 1;
        }
        if (bpf_map_lookup_elem(f.cfg, &zero, &cfg)) {
                fprintf(stderr, "%s: set %s: reading the settings: %s\n", prog_name, o->dev,
                        strerror(errno));
        } else if (apply(o, f.cfg, f.rng, &cfg) == 0) {
                printf("%s %s: loss %u ppm, dup %u ppm, match %s%s\n", o->dev, dir_name(o->dir),
                       cfg.loss_ppm, cfg.dup_ppm, match_name(cfg.match),
                       cfg.seeded ? ", seeded" : "");
                rc = 0;
        }
        found_close(&f);
        return rc;
}

static int print_stats(const struct opts *o, int ingress, const struct found *f)
{
        int ncpu = libbpf_num_possible_cpus();
        __u64 sum[IMPAIR_NCOUNTERS] = {0}, *v;
        struct impair_cfg cfg;
        __u32 zero = 0;

        if (ncpu <= 0 || !(v = calloc((size_t)ncpu, sizeof(*v))))
                return -1;
        for (__u32 k = 0; k < IMPAIR_NCOUNTERS; k++) {
                if (bpf_map_lookup_elem(f->counters, &k, v)) {
                        fprintf(stderr, "%s: stats %s: reading counter %u: %s\n", prog_name, o->dev,
                                k, strerror(errno));
                        free(v);
                        return -1;
                }
                for (int c = 0; c < ncpu; c++)
                        sum[k] += v[c];
        }
        free(v);
        if (bpf_map_lookup_elem(f->cfg, &zero, &cfg)) {
                fprintf(stderr, "%s: stats %s: reading the settings: %s\n", prog_name, o->dev,
                        strerror(errno));
                return -1;
        }
        printf("%s %s seen=%" PRIu64 " dropped=%" PRIu64 " duplicated=%" PRIu64
               " dup_failed=%" PRIu64 " loss_ppm=%u dup_ppm=%u match=%s\n",
               o->dev, dir_name(ingress), (uint64_t)sum[IMPAIR_SEEN], (uint64_t)sum[IMPAIR_DROPPED],
               (uint64_t)sum[IMPAIR_DUPLICATED], (uint64_t)sum[IMPAIR_DUP_FAILED], cfg.loss_ppm,
               cfg.dup_ppm, match_name(cfg.match));
        return 0;
}

static int cmd_stats_detach(const struct opts *o, int ifindex, bool detach)
{
        int dirs[2], n = 0, done = 0, rc = 0;

        if (o->dir >= 0)
                dirs[n++] = o->dir;
        else
                dirs[n++] = 0, dirs[n++] = 1;
        for (int i = 0; i < n; i++) {
                struct found f;
                int err = find_filter(o, ifindex, dirs[i], &f);

                if (err < 0) {
                        rc = 1;
                        continue;
                }
                if (err == 0)
                        continue;
                done++;
                if (!detach) {
                        if (print_stats(o, dirs[i], &f))
                                rc = 1;
                        found_close(&f);
                        continue;
                }
                struct impair_cfg cfg = {0};
                __u32 zero = 0;
                DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                                    .attach_point = dirs[i] ? BPF_TC_INGRESS : BPF_TC_EGRESS);
                DECLARE_LIBBPF_OPTS(bpf_tc_opts, d, .handle = IMPAIR_TC_HANDLE,
                                    .priority =
                                        dirs[i] ? IMPAIR_TC_PRIO_INGRESS : IMPAIR_TC_PRIO_EGRESS);

                bpf_map_lookup_elem(f.cfg, &zero, &cfg);
                found_close(&f);
                err = bpf_tc_detach(&hook, &d);
                if (err) {
                        fprintf(stderr, "%s: detach %s %s: %s\n", prog_name, o->dev,
                                dir_name(dirs[i]), strerror(-err));
                        rc = 1;
                        continue;
                }
                printf("%s %s: detached\n", o->dev, dir_name(dirs[i]));
                if (cfg.hook_created) {
                        /* the qdisc goes only when no filter of ours is left on it */
                        struct found other;
                        int left = find_filter(o, ifindex, !dirs[i], &other);

                        if (left > 0)
                                found_close(&other);
                        else if (left == 0) {
                                hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
                                quiet_libbpf = true;
                                bpf_tc_hook_destroy(&hook);
                                quiet_libbpf = false;
                        }
                }
        }
        if (!done && !rc) {
                fprintf(stderr, "%s: %s %s: mqttlb-impair is not attached\n", prog_name,
                        detach ? "detach" : "stats", o->dev);
                rc = 1;
        }
        return rc;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
        if (level == LIBBPF_DEBUG || quiet_libbpf)
                return 0;
        return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
        struct opts o;
        int rc, ifindex;

        rc = parse_args(argc, argv, &o);
        if (rc)
                return rc;
        if (o.netns && enter_netns(o.netns))
                return 1;
        ifindex = (int)if_nametoindex(o.dev);
        if (!ifindex) {
                fprintf(stderr, "%s: %s: no such device in %s\n", prog_name, o.dev,
                        o.netns ? o.netns : "this network namespace");
                return 1;
        }
        libbpf_set_print(libbpf_print);
        setrlimit(RLIMIT_MEMLOCK, &(struct rlimit){RLIM_INFINITY, RLIM_INFINITY});
        if (!strcmp(o.cmd, "attach"))
                return cmd_attach(&o, ifindex);
        if (!strcmp(o.cmd, "set"))
                return cmd_set(&o, ifindex);
        return cmd_stats_detach(&o, ifindex, !strcmp(o.cmd, "detach"));
}

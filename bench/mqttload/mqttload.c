/*
 * mqttload: an MQTT load tool in the spirit of emqtt-bench, on io_uring.
 *
 *   mqttload pub|sub|conn -H HOST [options]     (--help lists them)
 *
 * This file sets the run up (command line, file descriptor limit, signals),
 * starts one engine thread per -w (engine.c), watches them (the "ready" line,
 * --progress, --idle, SIGINT/SIGTERM), then prints the report (report.c).
 * Exit status: 0 ran, 1 bad arguments, 2 nothing connected, 3 internal error.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/mqttload/load.h"
#include "bench/mqttload/tls.h"

#define WATCH_NS    (20ull * 1000 * 1000)
#define PROGRESS_NS 1000000000ull

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
        (void)sig;
        got_signal = 1;
}

/* One descriptor per client and a few for the rings and stdio. */
static int raise_nofile(const struct load_cfg *cfg, char *err, size_t errlen)
{
        rlim_t need = (rlim_t)cfg->clients + 64 + 4 * cfg->threads;
        struct rlimit r;

        if (getrlimit(RLIMIT_NOFILE, &r))
                return -errno;
        if (r.rlim_cur >= need)
                return 0;
        if (r.rlim_max < need) {
                struct rlimit want = {need, need};

                if (!setrlimit(RLIMIT_NOFILE, &want))
                        return 0;
                snprintf(err, errlen,
                         "-c: %u clients need %llu file descriptors, RLIMIT_NOFILE allows %llu "
                         "(and raising it failed: %s)",
                         cfg->clients, (unsigned long long)need, (unsigned long long)r.rlim_max,
                         strerror(errno));
                return -EINVAL;
        }
        r.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &r)) {
                snprintf(err, errlen, "-c: raising RLIMIT_NOFILE to %llu failed: %s",
                         (unsigned long long)need, strerror(errno));
                return -EINVAL;
        }
        return 0;
}

static void install_signals(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
}

static bool all_finished(const struct load *l)
{
        for (uint32_t i = 0; i < l->cfg.threads; i++)
                if (l->th[i].started && !__atomic_load_n(&l->th[i].finished, __ATOMIC_ACQUIRE))
                        return false;
        return true;
}

static void sleep_ns(uint64_t ns)
{
        struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};

        nanosleep(&ts, NULL);
}

/* The main thread while the engines run: ready line, progress, --idle, signals. */
static void watch(struct load *l)
{
        const struct load_cfg *cfg = &l->cfg;
        uint64_t next_progress = l->start_ns + PROGRESS_NS;
        struct load_totals prev;
        bool ready = false;

        memset(&prev, 0, sizeof(prev));
        while (!all_finished(l)) {
                uint64_t now = load_now_ns();
                struct load_totals s;

                if (got_signal)
                        __atomic_store_n(&l->stop, true, __ATOMIC_RELAXED);
                for (uint32_t i = 0; i < cfg->threads; i++)
                        if (__atomic_load_n(&l->th[i].finished, __ATOMIC_ACQUIRE) && l->th[i].err)
                                __atomic_store_n(&l->stop, true, __ATOMIC_RELAXED);
                load__sum(l, &s, false);
                if (!ready && s.st.settled >= cfg->clients) {
                        ready = true;
                        if (!cfg->quiet)
                                fprintf(stderr, "mqttload: ready: %llu of %u clients connected%s\n",
                                        (unsigned long long)s.st.connected, cfg->clients,
                                        cfg->mode == LOAD_SUB ? " and subscribed" : "");
                }
                /* the engines stamp with their own clock reads: last_msg_ns
                 * may be later than now */
                if (cfg->idle > 0 && s.st.received && now > s.st.last_msg_ns &&
                    now - s.st.last_msg_ns >= (uint64_t)(cfg->idle * 1e9))
                        __atomic_store_n(&l->stop, true, __ATOMIC_RELAXED);
                if (cfg->progress && now >= next_progress) {
                        load__progress(l, (double)(now - l->start_ns) / 1e9, &prev);
                        next_progress += PROGRESS_NS;
                }
                sleep_ns(WATCH_NS);
        }
}

int main(int argc, char **argv)
{
        struct load *l = calloc(1, sizeof(*l));
        struct load_totals s;
        sigset_t block, old;
        char err[512];
        int ret, status = 0;

        if (!l) {
                fprintf(stderr, "mqttload: out of memory\n");
                return 3;
        }
        ret = load_cfg__parse(&l->cfg, argc, argv, err, sizeof(err));
        if (ret == 0)
                ret = raise_nofile(&l->cfg, err, sizeof(err));
        if (ret == 0 && l->cfg.tls && !(l->tls_ctx = tls__ctx_new(&l->cfg, err, sizeof(err))))
                ret = -EINVAL;
        if (ret == 0 && l->cfg.tls) {
                /* a handshake is hundreds of small allocations: keep the heap
                 * grown instead of trimming and growing it again (sysmalloc
                 * and its page faults were several percent of a TLS client's
                 * profile) */
                mallopt(M_TOP_PAD, 16 << 20);
                mallopt(M_TRIM_THRESHOLD, 256 << 20);
        }
        if (ret) {
                if (ret < 0)
                        fprintf(stderr, "mqttload: %s\n(mqttload --help lists the options)\n", err);
                free(l);
                return ret < 0 ? 1 : 0;
        }
        l->th = calloc(l->cfg.threads, sizeof(*l->th));
        if (!l->th) {
                fprintf(stderr, "mqttload: out of memory\n");
                free(l);
                return 3;
        }
        install_signals();
        /* the engines never take the signals: the main thread turns them into l->stop */
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        l->start_ns = load_now_ns();
        for (uint32_t i = 0; i < l->cfg.threads; i++) {
                struct load_thread *t = &l->th[i];

                t->l = l;
                t->idx = i;
                t->nconns = l->cfg.clients / l->cfg.threads + (i < l->cfg.clients % l->cfg.threads);
                ret = pthread_create(&t->tid, NULL, load_thread__run, t);
                if (ret) {
                        fprintf(stderr, "mqttload: thread %u: %s\n", i, strerror(ret));
                        __atomic_store_n(&l->stop, true, __ATOMIC_RELAXED);
                        status = 3;
                        break;
                }
                t->started = true;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        watch(l);
        for (uint32_t i = 0; i < l->cfg.threads; i++)
                if (l->th[i].started)
                        pthread_join(l->th[i].tid, NULL);
        l->end_ns = load_now_ns();
        for (uint32_t i = 0; i < l->cfg.threads; i++)
                if (l->th[i].err) {
                        fprintf(stderr, "mqttload: thread %u: %s\n", i, strerror(-l->th[i].err));
                        status = 3;
                }
        load__sum(l, &s, true);
        if (!l->cfg.quiet)
                load__summary(l, &s, l->cfg.json ? stderr : stdout);
        if (l->cfg.json)
                load__json(l, &s, stdout);
        if (!status && !s.st.connected) {
                fprintf(stderr, "mqttload: no client could connect\n");
                status = 2;
        }
        for (uint32_t i = 0; i < l->cfg.threads; i++)
                load_thread__free(&l->th[i]);
        free(l->th);
        if (l->tls_ctx)
                tls__ctx_free(l->tls_ctx);
        free(l);
        return status;
}

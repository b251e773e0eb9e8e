/*
 * mqttlb stats: asks the running instance for its counters over the admin
 * socket (core/ops/admin.h) and prints them: a table, JSON (--json) or the
 * Prometheus text format (--prometheus). Exit 0 with the counters on stdout;
 * 1 for bad arguments or an unreadable -c FILE; 2 when nothing answers on the
 * socket or the exchange fails. Touches nothing but the socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/ops/admin.h"
#include "core/config/config.h"

#define STATS_TIMEOUT_MS 5000

static const char USAGE[] =
    "usage: mqttlb stats [-s SOCKET | -c FILE] [--json | --prometheus]\n"
    "\n"
    "Prints the counters of the running mqttlb (docs/stats.md): connections,\n"
    "SYN cookies, pools and brokers, workers, XDP, malformed streams by reason.\n"
    "\n"
    "  -s, --socket SOCKET  the admin socket (default " ADMIN_SOCKET_DEFAULT ")\n"
    "  -c, --config FILE    take the socket from FILE's admin.socket\n"
    "      --json           one JSON object\n"
    "      --prometheus     the Prometheus text format, as /metrics serves it\n"
    "  -h, --help\n";

static const struct option LONGOPTS[] = {
    {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
    {"json", no_argument, NULL, 'j'},         {"prometheus", no_argument, NULL, 'p'},
    {"help", no_argument, NULL, 'h'},         {0},
};

/* The socket of -c FILE (copied into path[len]). */
static int socket_from_config(const char *file, char *path, size_t len)
{
        char err[CONFIG_ERR_MAX];
        struct config *cfg;
        int e = config__load(file, &cfg, err, sizeof(err));

        if (e) {
                cli__error("%s", err);
                return e == -ENOMEM ? EXIT_RUNTIME : EXIT_USER;
        }
        snprintf(path, len, "%s", cfg->admin.socket);
        config__free(cfg);
        return 0;
}

int cmd_stats(int argc, char **argv)
{
        const char *sock = NULL, *file = NULL, *what = "stats text";
        char path[4096], err[512];
        struct stats_buf out = {0};
        int c, e, formats = 0;

        optind = 1;
        while ((c = getopt_long(argc, argv, "s:c:h", LONGOPTS, NULL)) != -1) {
                switch (c) {
                case 's': sock = optarg; break;
                case 'c': file = optarg; break;
                case 'j': what = "stats json", formats++; break;
                case 'p': what = "stats prometheus", formats++; break;
                case 'h': fputs(USAGE, stdout); return 0;
                default: fputs(USAGE, stderr); return EXIT_USER;
                }
        }
        if (optind < argc) {
                cli__error("stats: unexpected argument '%s'", argv[optind]);
                return EXIT_USER;
        }
        if (formats > 1) {
                cli__error("stats: --json and --prometheus exclude each other");
                return EXIT_USER;
        }
        if (sock && file) {
                cli__error("stats: -s and -c exclude each other");
                return EXIT_USER;
        }
        if (file) {
                e = socket_from_config(file, path, sizeof(path));
                if (e)
                        return e;
                sock = path;
        }
        if (!sock)
                sock = ADMIN_SOCKET_DEFAULT;

        e = admin__query(sock, what, STATS_TIMEOUT_MS, &out, err, sizeof(err));
        if (e) {
                cli__error("%s%s", err,
                           e == -ENOENT || e == -ECONNREFUSED ? " (is mqttlb running?)"
                           : e == -EACCES ? " (root or the socket's group may read it)"
                                          : "");
                stats_buf__free(&out);
                return e == -ENAMETOOLONG ? EXIT_USER : EXIT_RUNTIME;
        }
        e = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0 ? 0 : -EIO;
        stats_buf__free(&out);
        if (e) {
                cli__error("stats: cannot write the counters: %s", strerror(errno));
                return EXIT_RUNTIME;
        }
        return 0;
}

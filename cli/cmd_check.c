/*
 * mqttlb check: loads a configuration file (core/config/config.h) and prints the
 * plan the balancer would run. Exit 0 with the plan on stdout; exit 1 with
 * one line "mqttlb: FILE:LINE: message" on stderr for an invalid or
 * unreadable file; exit 2 when the plan cannot be built (out of memory).
 * Opens no socket and touches no interface: it can run anywhere.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/config/config.h"

static const char USAGE[] =
    "usage: mqttlb check -c FILE [-q]\n"
    "\n"
    "Validates the configuration FILE and prints the resolved plan:\n"
    "workers, interfaces, listeners, source addresses, pools with each\n"
    "broker's share, routes in match order, and the tunables. An invalid\n"
    "file is one line on stderr, FILE:LINE: message, and exit status 1.\n"
    "\n"
    "  -c, --config FILE   the configuration (docs/config.md)\n"
    "  -q, --quiet         validate only: print nothing when FILE is valid\n"
    "  -h, --help\n";

static const struct option LONGOPTS[] = {
    {"config", required_argument, NULL, 'c'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {0},
};

int cmd_check(int argc, char **argv)
{
        const char *path = NULL;
        struct config *cfg;
        char err[CONFIG_ERR_MAX];
        bool quiet = false;
        int c, e;

        optind = 1;
        while ((c = getopt_long(argc, argv, "c:qh", LONGOPTS, NULL)) != -1) {
                switch (c) {
                case 'c': path = optarg; break;
                case 'q': quiet = true; break;
                case 'h': fputs(USAGE, stdout); return 0;
                default: fputs(USAGE, stderr); return EXIT_USER;
                }
        }
        if (optind < argc) {
                cli__error("check: unexpected argument '%s'", argv[optind]);
                return EXIT_USER;
        }
        if (!path) {
                cli__error("check: -c FILE is required");
                return EXIT_USER;
        }
        e = config__load(path, &cfg, err, sizeof(err));
        if (e) {
                cli__error("%s", err);
                return e == -ENOMEM ? EXIT_RUNTIME : EXIT_USER;
        }
        e = quiet ? 0 : config__print_plan(cfg, stdout);
        config__free(cfg);
        if (e) {
                cli__error("check: cannot print the plan: %s", strerror(-e));
                return EXIT_RUNTIME;
        }
        return 0;
}

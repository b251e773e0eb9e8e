/*
 * mqttlb demo: finds the demo script (scripts/demo.sh) and runs it with the
 * path of this very binary, so the demo always shows the mqttlb that was
 * asked for. The script builds the namespaces, brokers and clients, runs
 * `mqttlb run` and prints the results; its exit status is the demo's.
 *
 * Where the script is looked for, first found wins:
 *   $MQTTLB_DEMO_SCRIPT                       (an override, for development)
 *   <dir of this binary>/../share/mqttlb/demo.sh   (installed: sbin -> share)
 *   MQTTLB_SOURCE_DIR/scripts/demo.sh         (the source tree it was built from)
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef MQTTLB_SOURCE_DIR
#define MQTTLB_SOURCE_DIR ""
#endif

static const char USAGE[] =
    "usage: mqttlb demo [--quick] [--duration S] [--keep]\n"
    "\n"
    "Builds a private topology (three network namespaces), starts five\n"
    "Mosquitto brokers in three pools (apples, pears, other) and this mqttlb\n"
    "on AF_XDP between them, runs MQTT clients publishing and subscribing by\n"
    "topic through the balancer, prints where each topic's messages landed and\n"
    "the balancer's counters, and removes everything it made. Needs root\n"
    "(re-executes through sudo), mosquitto and python3-paho-mqtt.\n"
    "Exit status 0 when every message landed in its topic's pool and nothing\n"
    "sent at QoS 1 was lost, 1 otherwise.\n"
    "\n"
    "      --quick         about 8 s of traffic instead of 20\n"
    "      --duration S    S seconds of traffic (1 to 3600)\n"
    "      --keep          keep the temporary directory (configs, logs, records)\n"
    "  -h, --help          this text\n";

static bool readable(const char *path)
{
        return path[0] && access(path, R_OK) == 0;
}

/* The script to run into buf, or -ENOENT (the places tried are reported). */
static int find_script(const char *exe, char *buf, size_t len)
{
        const char *env = getenv("MQTTLB_DEMO_SCRIPT");
        char dir[PATH_MAX];
        char *slash;

        if (env && env[0]) {
                if (!readable(env)) {
                        cli__error("demo: MQTTLB_DEMO_SCRIPT=%s: %s", env, strerror(errno));
                        return -ENOENT;
                }
                snprintf(buf, len, "%s", env);
                return 0;
        }
        snprintf(dir, sizeof(dir), "%s", exe);
        slash = strrchr(dir, '/');
        if (slash) {
                *slash = '\0';
                if ((size_t)snprintf(buf, len, "%s/../share/mqttlb/demo.sh", dir) < len &&
                    readable(buf))
                        return 0;
        }
        if ((size_t)snprintf(buf, len, "%s/scripts/demo.sh", MQTTLB_SOURCE_DIR) < len &&
            readable(buf))
                return 0;
        cli__error("demo: the demo script was found neither at %s/../share/mqttlb/demo.sh nor at "
                   "%s/scripts/demo.sh (set MQTTLB_DEMO_SCRIPT)",
                   slash ? dir : ".", MQTTLB_SOURCE_DIR[0] ? MQTTLB_SOURCE_DIR : "<source tree>");
        return -ENOENT;
}

int cmd_demo(int argc, char **argv)
{
        static const struct option opts[] = {
            {"quick", no_argument, NULL, 'q'},
            {"duration", required_argument, NULL, 'd'},
            {"keep", no_argument, NULL, 'k'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        char exe[PATH_MAX], script[PATH_MAX + 64];
        const char *duration = NULL;
        bool quick = false, keep = false;
        char *args[8];
        int c, n = 0;
        ssize_t len;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'q': quick = true; break;
                case 'd': duration = optarg; break;
                case 'k': keep = true; break;
                case 'h': fputs(USAGE, stdout); return 0;
                default: fputs(USAGE, stderr); return EXIT_USER;
                }
        }
        if (optind < argc) {
                cli__error("demo: unexpected argument '%s'", argv[optind]);
                return EXIT_USER;
        }
        if (duration) {
                char *end;
                long s;

                errno = 0;
                s = strtol(duration, &end, 10);
                if (errno || end == duration || *end || s < 1 || s > 3600) {
                        cli__error("demo: --duration: expected whole seconds from 1 to 3600, not "
                                   "'%s'",
                                   duration);
                        return EXIT_USER;
                }
        }
        len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (len < 0) {
                cli__error("demo: /proc/self/exe: %s", strerror(errno));
                return EXIT_RUNTIME;
        }
        exe[len] = '\0';
        if (find_script(exe, script, sizeof(script)))
                return EXIT_RUNTIME;

        args[n++] = "bash";
        args[n++] = script;
        args[n++] = exe;
        if (quick)
                args[n++] = "--quick";
        if (duration) {
                args[n++] = "--duration";
                args[n++] = (char *)duration;
        }
        if (keep)
                args[n++] = "--keep";
        args[n] = NULL;
        fflush(NULL);
        execvp("bash", args);
        cli__error("demo: cannot run bash %s: %s", script, strerror(errno));
        return EXIT_RUNTIME;
}

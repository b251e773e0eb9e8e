/* mqttlb's entry point: picks the subcommand (cli.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "cli/cli.h"
#include "version.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *what;
} COMMANDS[] = {
    {"check", cmd_check, "validate a configuration file and print the resolved plan"},
    {"demo", cmd_demo,
     "MQTT brokers in three pools and clients through mqttlb in private namespaces (root)"},
    {"null-forward", cmd_null_forward,
     "forward frames through the AF_XDP datapath without MQTT (the ceiling; a datapath check)"},
    {"replay", cmd_replay,
     "run the connections of a capture offline through the balancer, brokers emulated"},
    {"run", cmd_run, "run the balancer in the foreground (SIGINT/SIGTERM stop it)"},
    {"stats", cmd_stats, "print the running instance's counters (admin socket)"},
};

#define NCOMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

void cli__error(const char *fmt, ...)
{
        va_list ap;

        fputs("mqttlb: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

void cli__block_signals(void)
{
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int cli__wait_signal(long ms)
{
        sigset_t set;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        int sig;

        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        sig = sigtimedwait(&set, NULL, &ts);
        return sig > 0 ? sig : 0;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: mqttlb COMMAND [OPTIONS]   (mqttlb COMMAND --help for its options)\n"
                   "       mqttlb --version\n\n"
                   "commands:\n");
        for (size_t i = 0; i < NCOMMANDS; i++)
                fprintf(f, "  %-14s %s\n", COMMANDS[i].name, COMMANDS[i].what);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                usage(stderr);
                return EXIT_USER;
        }
        if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
                usage(stdout);
                return 0;
        }
        if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
                printf("mqttlb %s (git %s)\nlibxdp %s (built against), libbpf %s\n", MQTTLB_VERSION,
                       MQTTLB_GIT_COMMIT, LIBXDP_BUILT, libbpf_version_string());
                return 0;
        }
        for (size_t i = 0; i < NCOMMANDS; i++)
                if (!strcmp(argv[1], COMMANDS[i].name))
                        return COMMANDS[i].run(argc - 1, argv + 1);
        cli__error("unknown command '%s' (mqttlb --help lists them)", argv[1]);
        return EXIT_USER;
}

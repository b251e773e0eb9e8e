/*
 * The mqttlb command: one binary, one function per subcommand. Exit codes as
 * CONTRACT.md says: 0 success, 1 user error (one line on stderr naming what
 * was wrong), 2 runtime failure.
 */
#ifndef MQTTLB_CLI_CLI_H
#define MQTTLB_CLI_CLI_H

#define EXIT_USER    1
#define EXIT_RUNTIME 2

int cmd_null_forward(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_stats(int argc, char **argv);

/* "mqttlb: " + message on stderr. */
void cli__error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Blocks SIGINT, SIGTERM and SIGHUP in this thread (and the threads it
 * starts), so cli__wait_signal can take them synchronously. */
void cli__block_signals(void);
/* Waits up to ms for SIGINT/SIGTERM/SIGHUP; returns the signal or 0 on timeout. */
int cli__wait_signal(long ms);

#endif

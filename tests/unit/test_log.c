/*
 * Operator logs: the text line, the JSON line (escaped, with its fields),
 * the rate limit per event (a burst, then silence, then a line saying how
 * many were suppressed) and that one noisy event does not silence another.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util/log.h"

static char path[] = "/tmp/mqttlb-test-log-XXXXXX";

/* Everything logged since the last call. */
static char *drain(void)
{
        static char buf[65536];
        FILE *f;
        size_t n;

        fflush(stderr);
        f = fopen(path, "r");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        assert_non_null(freopen(path, "w", stderr));
        return buf;
}

static int lines(const char *s)
{
        int n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static void test_text_and_json(void **state)
{
        (void)state;
        drain();
        log__set_format(LOG_TEXT);
        log__info("start", "running %s", "lb.yaml");
        log__error("bad", "cannot read %s", "x");
        assert_string_equal(drain(), "mqttlb: running lb.yaml\nmqttlb: error: cannot read x\n");

        log__set_format(LOG_JSON);
        log__warn("broker_down", "broker \"a\"\tdown\n");
        char *out = drain();
        assert_non_null(strstr(out, "\"level\":\"warn\",\"event\":\"broker_down\","
                                    "\"msg\":\"broker \\\"a\\\"\\u0009down\\n\"}\n"));
        assert_int_equal(strncmp(out, "{\"ts\":\"", 7), 0);
        assert_non_null(strchr(out, 'Z'));
        log__set_format(LOG_TEXT);
}

static void test_rate_limit(void **state)
{
        (void)state;
        drain();
        for (int i = 0; i < 3 * LOG_BURST; i++)
                log__info("noisy", "line %d", i);
        log__info("quiet", "other event");
        char *out = drain();
        assert_int_equal(lines(out), LOG_BURST + 1);
        assert_non_null(strstr(out, "mqttlb: other event\n"));
        assert_null(strstr(out, "line 10\n"));
}

static void test_parse(void **state)
{
        enum log_format f;

        (void)state;
        assert_int_equal(log__parse_format("json", &f), 0);
        assert_int_equal(f, LOG_JSON);
        assert_int_equal(log__parse_format("text", &f), 0);
        assert_int_equal(f, LOG_TEXT);
        assert_int_equal(log__parse_format("xml", &f), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_text_and_json),
            cmocka_unit_test(test_rate_limit),
            cmocka_unit_test(test_parse),
        };
        int fd = mkstemp(path), rc;

        if (fd < 0 || !freopen(path, "w", stderr))
                return 1;
        close(fd);
        rc = cmocka_run_group_tests(tests, NULL, NULL);
        unlink(path);
        return rc;
}

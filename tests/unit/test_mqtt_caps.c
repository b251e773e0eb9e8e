/*
 * Capabilities met over brokers (5.0 §3.2.2.3): each property read with its
 * default when absent, the most restrictive kept, presence only where the
 * result differs from the default; and their CONNACK property bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/caps.h"

static void test_meet(void **state)
{
        struct mqtt_caps acc = {0}; /* no broker yet: every default */
        const struct mqtt_caps mosq = {
            .present = MQTT_HAS_TOPIC_ALIAS_MAX | MQTT_HAS_RECEIVE_MAX | MQTT_HAS_RETAIN_AVAIL,
            .topic_alias_max = 10,
            .receive_max = 20,
            .retain_avail = 1,
        };
        const struct mqtt_caps small = {
            .present = MQTT_HAS_TOPIC_ALIAS_MAX | MQTT_HAS_MAX_PACKET | MQTT_HAS_MAX_QOS |
                       MQTT_HAS_SHARED_AVAIL,
            .topic_alias_max = 50,
            .max_packet = 4096,
            .max_qos = 1,
            .shared_avail = 0,
        };

        (void)state;
        acc = mosq;
        mqtt_caps__meet(&acc, &small);
        assert_int_equal(acc.topic_alias_max, 10);
        assert_int_equal(acc.receive_max, 20);
        assert_int_equal(acc.max_packet, 4096);
        assert_int_equal(acc.max_qos, 1);
        assert_int_equal(acc.shared_avail, 0);
        assert_int_equal(acc.present, MQTT_HAS_TOPIC_ALIAS_MAX | MQTT_HAS_RECEIVE_MAX |
                                          MQTT_HAS_MAX_PACKET | MQTT_HAS_MAX_QOS |
                                          MQTT_HAS_SHARED_AVAIL);

        /* a broker announcing nothing: no alias at all (absent means 0) */
        mqtt_caps__meet(&acc, &(struct mqtt_caps){0});
        assert_int_equal(acc.present & MQTT_HAS_TOPIC_ALIAS_MAX, 0);
        assert_int_equal(acc.topic_alias_max, 0);
        assert_int_equal(acc.receive_max, 20);
}

static void test_props(void **state)
{
        const struct mqtt_caps c = {
            .present = MQTT_HAS_TOPIC_ALIAS_MAX | MQTT_HAS_RECEIVE_MAX | MQTT_HAS_MAX_PACKET |
                       MQTT_HAS_MAX_QOS | MQTT_HAS_RETAIN_AVAIL | MQTT_HAS_WILDCARD_AVAIL |
                       MQTT_HAS_SHARED_AVAIL,
            .topic_alias_max = 0x0102,
            .receive_max = 0x0304,
            .max_packet = 0x05060708,
            .max_qos = 1,
            .retain_avail = 0,
            .wildcard_avail = 0,
            .shared_avail = 0,
        };
        static const uint8_t want[] = {0x22, 0x01, 0x02, 0x21, 0x03, 0x04, 0x27, 0x05, 0x06, 0x07,
                                       0x08, 0x24, 0x01, 0x25, 0x00, 0x28, 0x00, 0x2a, 0x00};
        uint8_t out[MQTT_CAPS_PROPS_MAX];

        (void)state;
        assert_int_equal(mqtt_caps__props(&c, out), sizeof(want));
        assert_memory_equal(out, want, sizeof(want));
        assert_int_equal(mqtt_caps__props(&(struct mqtt_caps){0}, out), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_meet),
            cmocka_unit_test(test_props),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

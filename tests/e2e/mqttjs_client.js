#!/usr/bin/env node
/*
 * MQTT.js publisher of mqttlb's end-to-end tests (test_balance.sh).
 *
 *   NODE_PATH=DIR/node_modules node mqttjs_client.js --host H [--port 1883]
 *       --client-id ID --topic T [--protocol 4|5] [--qos 0|1|2] [--count N]
 *       --sent FILE [--timeout SECONDS]
 *
 * Connects once (no automatic reconnect), publishes N messages on T with
 * payload ID/SEQ, one after the other, each awaited (QoS 0: written; QoS 1/2:
 * acknowledged), appends one sent line per message ("topic<TAB>payload") to
 * FILE, disconnects. Exit 0 when every message was published, 1 otherwise
 * (error, refusal, timeout).
 */
'use strict';

const fs = require('fs');
const mqtt = require('mqtt');

function parseArgs(argv) {
  const o = { port: 1883, protocol: 4, qos: 1, count: 10, timeout: 30 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(i + 1 < argv.length)) throw new Error(`${argv[i]} needs a value`);
    o[k] = argv[i + 1];
  }
  for (const k of ['host', 'clientId', 'topic', 'sent']) {
    if (!o[k]) throw new Error(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} is required`);
  }
  for (const k of ['port', 'protocol', 'qos', 'count', 'timeout']) o[k] = Number(o[k]);
  return o;
}

function fail(msg) {
  process.stderr.write(`mqttjs_client: ${msg}\n`);
  process.exit(1);
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    fail(e.message);
  }
  setTimeout(() => fail(`timed out after ${o.timeout} s`), o.timeout * 1000).unref();

  const client = await mqtt.connectAsync({
    host: o.host,
    port: o.port,
    protocol: 'mqtt',
    protocolVersion: o.protocol,
    clientId: o.clientId,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10000,
  });
  const sent = fs.openSync(o.sent, 'a');
  for (let seq = 1; seq <= o.count; seq++) {
    const payload = `${o.clientId}/${seq}`;
    await client.publishAsync(o.topic, payload, { qos: o.qos });
    fs.writeSync(sent, `${o.topic}\t${payload}\n`);
  }
  fs.closeSync(sent);
  await client.endAsync();
  process.stderr.write(
    `mqttjs_client: ${o.clientId}: ${o.count} QoS ${o.qos} messages on ${o.topic} (MQTT.js ${require('mqtt/package.json').version}, protocol ${o.protocol})\n`
  );
}

main().catch((e) => fail(e && e.message ? e.message : String(e)));

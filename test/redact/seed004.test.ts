// Seed 004 ("Log Sanitization"): the documented outputs, exactly.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor } from '../../src/redact/index.js';

const r = createRedactor({ isolated: true });

describe('seed 004 sensitive patterns', () => {
  test('Bearer <token> → Bearer [REDACTED]', () => {
    assert.equal(r.redactText('Bearer 8f14e45fceea167a5a36dedd4bea2543'), 'Bearer [REDACTED]');
    assert.equal(r.redactText('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudC0xIn0.c2lnbmF0dXJlX2J5dGVz'), 'Authorization: Bearer [REDACTED]');
    assert.equal(r.redactText('calling upstream with Bearer gh1.k1.eyJzdWIiOiJhIn0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA now'), 'calling upstream with Bearer [REDACTED] now');
  });

  test('Basic <credentials> → Basic [REDACTED]', () => {
    assert.equal(r.redactText('Authorization: Basic dXNlcjpodW50ZXIy'), 'Authorization: Basic [REDACTED]');
    assert.equal(r.redactText('proxy sent Basic YWRtaW46czNjcjN0IQ=='), 'proxy sent Basic [REDACTED]');
  });

  test('api_key: <value> → api_key: [REDACTED]', () => {
    assert.equal(r.redactText('api_key: 9a8b7c6d5e4f'), 'api_key: [REDACTED]');
    assert.equal(r.redactText('API_KEY: your_api_key'), 'API_KEY: [REDACTED]');
    assert.equal(r.redactText('DO_AGENT_API_KEY=your_api_key'), 'DO_AGENT_API_KEY=[REDACTED]');
  });

  test('password: <value> → password: [REDACTED]', () => {
    assert.equal(r.redactText('password: hunter2'), 'password: [REDACTED]');
    assert.equal(r.redactText('MQTT_PASSWORD=secret_password'), 'MQTT_PASSWORD=[REDACTED]');
    assert.equal(r.redactText('mqtt_password = "secret_password"'), 'mqtt_password = "[REDACTED]"');
  });

  test('certificate content → [CERTIFICATE REDACTED]', () => {
    const pem = [
      '-----BEGIN CERTIFICATE-----',
      'MIIBszCCAVmgAwIBAgIUCgM9Lq3n0n8yQmJ3bQ1dWk4d6vQwCgYIKoZIzj0EAwIw',
      'DzENMAsGA1UEAwwEdGVzdDAeFw0yNTAxMDEwMDAwMDBaFw0yNjAxMDEwMDAwMDBa',
      'MA8xDTALBgNVBAMMBHRlc3Q=',
      '-----END CERTIFICATE-----',
    ].join('\n');
    assert.equal(r.redactText(`loaded client certificate: ${pem}`), 'loaded client certificate: [CERTIFICATE REDACTED]');
    assert.equal(r.redactText(JSON.stringify({ cert: pem })), '{"cert":"[CERTIFICATE REDACTED]"}');
  });

  test('file paths → [FILE PATH REDACTED]', () => {
    assert.equal(r.redactText('tls: reading key /etc/mqtt/certs/client.key'), 'tls: reading key [FILE PATH REDACTED]');
    assert.equal(r.redactText('ca_certs=/etc/ssl/certs/ca.crt'), 'ca_certs=[FILE PATH REDACTED]');
  });

  test('URLs with credentials: password replaced, host kept', () => {
    assert.equal(r.redactText('connecting to mqtts://sensor:Tr0ub4dor@broker.example.com:8883/'), 'connecting to mqtts://sensor:[REDACTED]@broker.example.com:8883/');
    assert.equal(r.redactText('https://user:pass@host/path?q=1'), 'https://user:[REDACTED]@host/path?q=1');
  });
});

/**
 * The mapping table (src/compliance/controls.ts) stays reviewable and true: every doctor check it cites exists, every
 * control appears once, the thresholds are the standard's, and docs/compliance.md states each control's rule as the
 * code applies it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CHECKS } from '../../src/doctor/index.js';
import { CONTROLS, FACTS, PCI_MAX_FAILURES, PCI_MIN_LOCKOUT_MS, PCI_MIN_RETENTION_MS } from '../../src/compliance/index.js';

const docs = readFileSync(new URL('../../docs/compliance.md', import.meta.url), 'utf8');

describe('the control table', () => {
  test('every doctor check it cites is a check of the doctor (a renamed check fails here, not silently in a report)', () => {
    const ids = new Set(CHECKS.map((c) => c.id));
    for (const c of CONTROLS) for (const id of c.checks) assert.ok(ids.has(id), `${c.framework} ${c.control} cites ${id}`);
  });

  test('every setting it shows has an extractor, and each control appears once', () => {
    for (const c of CONTROLS) for (const k of c.keys) assert.equal(typeof FACTS[k], 'function', k);
    const keys = CONTROLS.map((c) => `${c.framework} ${c.control}`);
    assert.equal(new Set(keys).size, keys.length);
  });

  test('the PCI DSS v4.0 thresholds: 8.3.4 at most 10 attempts and 30 minutes; 10.5.1 twelve months', () => {
    assert.equal(PCI_MAX_FAILURES, 10);
    assert.equal(PCI_MIN_LOCKOUT_MS, 30 * 60_000);
    assert.equal(PCI_MIN_RETENTION_MS, 366 * 86_400_000);
  });

  test('docs/compliance.md lists every control with its rule word for word, and the disclaimer', () => {
    for (const c of CONTROLS) {
      assert.ok(docs.includes(`| ${c.control} |`), `docs/compliance.md has no row for ${c.control}`);
      assert.ok(docs.includes(c.rule), `docs/compliance.md does not state the rule of ${c.framework} ${c.control}: ${c.rule}`);
    }
    assert.match(docs, /evidence for an assessor, not a certification/i);
  });
});

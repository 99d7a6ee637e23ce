/** The message catalog is istioctl's user interface: codes, levels and texts must be Istio's. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { MESSAGES } from '../../../src/api/analysis/messages.ts';
import { goFormat } from '../../../src/api/analysis/format.ts';

const ISTIO_MESSAGES = new URL('../../../../shared/istio-data/istio/pkg/config/analysis/msg/messages.yaml', import.meta.url).pathname;

test('catalog matches Istio messages.yaml entry for entry', { skip: !existsSync(ISTIO_MESSAGES) && 'istio-data not present' }, () => {
  const istio = (parse(readFileSync(ISTIO_MESSAGES, 'utf8')) as { messages: { name: string; code: string; level: string; template: string }[] }).messages;
  assert.deepEqual(
    MESSAGES.map((m) => ({ name: m.name, code: m.code, level: m.level, template: m.template })),
    istio.map((m) => ({ name: m.name, code: m.code, level: m.level, template: m.template })),
  );
});

test('Go verbs format as istioctl prints them', () => {
  assert.equal(goFormat('Referenced %s not found: %q', ['host', 'reviews']), 'Referenced host not found: "reviews"');
  assert.equal(goFormat('gateways %v ok %d', [['a/b', 'c/d'], 3]), 'gateways [a/b c/d] ok 3');
  assert.equal(goFormat('%q', [['a', 'b']]), '["a" "b"]');
});

/**
 * The TypeScript encoder and the C decoder must agree on every number: parse native/launcher.h and
 * compare each enum with src/launch/wire.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ATTR, DECODE_ERROR, OP, PLAN_MAGIC, PLAN_MAX, RELAY, REPORT, ROOT_KIND, STEP, TAG, ZYGOTE_EVENT, ZYGOTE_OP, ZYGOTE_RUN_FDS } from '../../src/launch/wire.js';
import { ROOT } from '../helpers/cli.js';

const header = readFileSync(join(ROOT, 'native/launcher.h'), 'utf8');

function cEnum(prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of header.matchAll(new RegExp(`\\b${prefix}([A-Z0-9_]+)\\s*=\\s*([^,\\n]+),`, 'g'))) {
    const expr = m[2]!.replace(/\/\*.*$/, '').trim();
    const shift = /^1u?\s*<<\s*(\d+)$/.exec(expr);
    const alias = expr.startsWith(prefix) ? out[expr.slice(prefix.length)] : undefined; // TAG_LAST = TAG_CPU_USAGE
    out[m[1]!] = shift ? 1 << Number(shift[1]) : alias ?? Number(expr);
  }
  return out;
}

function upper(rec: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(rec).map(([k, v]) => [k.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase(), v]));
}

test('plan tags', () => {
  const c = cEnum('TAG_');
  delete c['UNUSED_2'];
  // TAG_LAST sizes the decoder's table of tags seen: it must be the highest tag
  assert.equal(c['LAST'], Math.max(...Object.values(TAG)));
  delete c['LAST'];
  assert.deepEqual(c, { ...TAG });
});
test('mount ops', () => assert.deepEqual(cEnum('OP_'), upper(OP)));
test('mount attributes', () => {
  const c = cEnum('ATTR_');
  delete c['ALL'];
  assert.deepEqual(c, upper(ATTR));
});
test('root kinds', () => assert.deepEqual(cEnum('ROOT_'), { ...ROOT_KIND }));
test('steps', () => assert.deepEqual(cEnum('STEP_'), { ...STEP }));
test('decode errors', () => assert.deepEqual(cEnum('DEC_'), { ...DECODE_ERROR }));
test('report types', () => assert.deepEqual(cEnum('REPORT_'), { ...REPORT }));
test('relayed outputs', () => assert.deepEqual(cEnum('RELAY_'), upper(RELAY)));
test('magic', () => assert.match(header, new RegExp(`PLAN_MAGIC 0x${PLAN_MAGIC.toString(16)}u`)));
test('zygote requests and events', () => {
  assert.deepEqual(cEnum('ZY_'), { ...ZYGOTE_OP });
  assert.deepEqual(cEnum('ZE_'), { ...ZYGOTE_EVENT });
  assert.match(header, new RegExp(`#define ZYGOTE_RUN_FDS ${ZYGOTE_RUN_FDS}\\n`));
});

/** `#define PLAN_MAX_X expr`: a number, `Nu`, or `(Nu << M)`. */
function cLimits(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of header.matchAll(/^#define PLAN_MAX_([A-Z_]+)\s+(\S.*?)\s*(?:\/\*.*)?$/gm)) {
    const expr = m[2]!.replace(/[()]/g, '').replace(/(\d+)u/g, '$1');
    const shift = /^(\d+)\s*<<\s*(\d+)$/.exec(expr);
    out[m[1]!] = shift ? Number(shift[1]) * 2 ** Number(shift[2]) : Number(expr);
  }
  return out;
}
test('plan limits: the decoder\'s and the ones checked before the launch', () => assert.deepEqual(cLimits(), { ...PLAN_MAX }));

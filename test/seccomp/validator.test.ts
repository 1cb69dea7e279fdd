/**
 * The validator against the kernel's rules (unit cases); validator-kernel.test.ts loads the same
 * programs into the real kernel.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { validateProgram, insn, bpf, type Insn } from '../../src/seccomp/index.js';
import { VALIDATOR_CASES } from './helpers/programs.js';

for (const c of VALIDATOR_CASES) {
  test(`validator: ${c.name} → ${c.valid ? 'accepted' : 'rejected'}`, () => {
    const errors = validateProgram(c.prog);
    if (c.valid) assert.deepEqual(errors, []);
    else {
      assert.ok(errors.length > 0, 'expected a rejection');
      if (c.reason) assert.match(errors.map((e) => e.message).join('; '), c.reason);
    }
  });
}

test('validator: exactly 4096 instructions is the limit', () => {
  const ok: Insn[] = Array.from({ length: 4096 }, () => insn(bpf.BPF_RET | bpf.BPF_K, 0x7fff0000));
  assert.deepEqual(validateProgram(ok), []);
  assert.match(validateProgram([...ok, ok[0]!])[0]!.message, /1\.\.4096/);
  assert.match(validateProgram([])[0]!.message, /1\.\.4096/);
});

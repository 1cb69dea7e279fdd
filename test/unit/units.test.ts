/**
 * Sizes and durations as written in policies and on the command line (src/policy/units.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDuration, parseSize } from '../../src/policy/units.js';
import { refused } from './fixtures.js';

describe('parseSize', () => {
  const ok: [string | number, number][] = [
    [1, 1], [4096, 4096], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    ['1', 1], ['512', 512], ['1K', 1024], ['64M', 64 * 1024 ** 2], ['1G', 1024 ** 3], ['3G', 3 * 1024 ** 3],
    ['007M', 7 * 1024 ** 2], [' 64M ', 64 * 1024 ** 2],
    ['1.5M', 1.5 * 1024 ** 2], ['1.5G', 1.5 * 1024 ** 3], ['0.5K', 512], ['2.25G', 2.25 * 1024 ** 3], ['1.0', 1], ['64.000M', 64 * 1024 ** 2],
    // the largest G count whose byte count is still a safe integer
    ['8388607G', 8388607 * 1024 ** 3],
  ];
  for (const [input, bytes] of ok) {
    test(`${JSON.stringify(input)} → ${bytes}`, () => assert.equal(parseSize(input, 'x'), bytes));
  }

  const bad: (string | number)[] = [
    '', ' ', 'K', 'M', '64 MB', '64MB', '64m', '64k', '1T', '-1', '-1K', '+1', '0x10', '1e3', '64MiB', 'M64', '1,000', '.5M', '1.M', '1..5M',
    -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1,
  ];
  for (const input of bad) {
    test(`${JSON.stringify(input) ?? String(input)} is refused, naming the field and the expected form`, () => {
      refused(() => parseSize(input, 'filesystem.tmp.size'), /^filesystem\.tmp\.size: '.*' is not a size; write bytes or a number with K, M or G/);
    });
  }

  for (const zero of [0, '0', '0K']) {
    test(`${JSON.stringify(zero)} is refused (a tmpfs of size 0 is unlimited), unless zero is allowed`, () => {
      refused(() => parseSize(zero, 'filesystem.tmp.size'), /^filesystem\.tmp\.size: a size of 0 is not allowed/);
      assert.equal(parseSize(zero, 'limits.swap', { allowZero: true }), 0);
    });
  }

  for (const input of ['1.1M', '0.3M', '1.5', '0.0001K']) {
    test(`${input} is refused: not a whole number of bytes`, () => {
      refused(() => parseSize(input, 'limits.memory'), new RegExp(`^limits\\.memory: '${input}' is not a whole number of bytes`));
    });
  }

  test('a byte count beyond 2^53 is refused as too large, not rounded', () => {
    refused(() => parseSize('8388608G', 'rlimits.as'), /^rlimits\.as: '8388608G' is too large/);
    refused(() => parseSize('9007199254740993', 'rlimits.as'), /too large/);
  });
});

describe('parseDuration', () => {
  const ok: [string | number, number][] = [
    [1, 1], [300, 300], ['1ms', 1], ['300ms', 300], ['1s', 1000], ['2s', 2000], ['90s', 90000], [' 2s ', 2000], ['010ms', 10],
    ['1.5s', 1500], ['0.3s', 300], ['2.125s', 2125], ['0.001s', 1], ['1.0ms', 1],
  ];
  for (const [input, ms] of ok) {
    test(`${JSON.stringify(input)} → ${ms} ms`, () => assert.equal(parseDuration(input, 'x'), ms));
  }

  const bad: (string | number)[] = [
    0, -1, 1.5, Number.NaN, '0ms', '0s', '00s', '0.0s', '', '2', '2 s', '2S', '2sec', '1m', '1h', '-1s', 'ms', 's', '2ms2', '.5s', '1.s',
  ];
  for (const input of bad) {
    test(`${JSON.stringify(input) ?? String(input)} is refused, naming the field and the expected form`, () => {
      refused(() => parseDuration(input, 'limits.wallTime'), /^limits\.wallTime: '.*' is not a duration; write a positive number with ms or s/);
    });
  }

  for (const input of ['0.5ms', '1.0005s']) {
    test(`${input} is refused: not a whole number of milliseconds`, () => {
      refused(() => parseDuration(input, 'limits.cpuTime'), new RegExp(`^limits\\.cpuTime: '${input}' is not a whole number of milliseconds`));
    });
  }
});

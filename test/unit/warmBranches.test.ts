import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_WARM_BRANCHES, warmBranches } from '../../server/engine/coldBranches';

test('SLIPSTREAM_WARM_BRANCHES: unset or blank means the default, 2', () => {
  assert.equal(DEFAULT_WARM_BRANCHES, 2);
  for (const raw of [undefined, '', '  ']) assert.equal(warmBranches(raw), 2);
});

test('SLIPSTREAM_WARM_BRANCHES: whole numbers from 1 are taken', () => {
  assert.equal(warmBranches('1'), 1);
  assert.equal(warmBranches(' 5 '), 5);
});

test('SLIPSTREAM_WARM_BRANCHES: zero, negatives, fractions and words are refused, saying what is wanted', () => {
  for (const raw of ['0', '-1', '1.5', 'two', '1e3', '0x2', '99999999999999999999']) {
    assert.throws(() => warmBranches(raw), /whole number of at least 1/, raw);
  }
});

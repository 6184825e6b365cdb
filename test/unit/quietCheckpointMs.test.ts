import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quietCheckpointMs } from '../../server/engine/quietCheckpoints';

test('SLIPSTREAM_QUIET_CHECKPOINT_MS: unset or blank means 2000 ms; 0 turns the looks off', () => {
  for (const raw of [undefined, '', '  ']) assert.equal(quietCheckpointMs(raw), 2000);
  assert.equal(quietCheckpointMs('0'), 0);
  assert.equal(quietCheckpointMs(' 500 '), 500);
});

test('SLIPSTREAM_QUIET_CHECKPOINT_MS: negatives, fractions and words are refused, saying what is wanted', () => {
  for (const raw of ['-1', '1.5', 'soon', '2e3']) {
    assert.throws(() => quietCheckpointMs(raw), /SLIPSTREAM_QUIET_CHECKPOINT_MS must be a whole number of milliseconds/, raw);
  }
});

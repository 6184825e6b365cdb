import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMoment } from '../../server/common/moments';

const NOW = Date.parse('2026-12-01T20:00:00.000Z');
const moment = (text: string) => {
  const r = parseMoment(text, NOW);
  return 'moment' in r ? r.moment : `problem: ${r.problem}`;
};

test('ISO 8601 with a zone, read to the millisecond in UTC', () => {
  assert.equal(moment('2026-12-01T19:40:05.250Z'), '2026-12-01T19:40:05.250Z');
  assert.equal(moment('2026-12-01T20:40:05.250+01:00'), '2026-12-01T19:40:05.250Z');
  assert.equal(moment('2026-12-01 20:40:05+0100'), '2026-12-01T19:40:05.000Z');
  assert.equal(moment('2026-12-01T14:40-05'), '2026-12-01T19:40:00.000Z');
  // Finer digits are cut, never rounded up past the moment.
  assert.equal(moment('2026-12-01T19:40:05.123999Z'), '2026-12-01T19:40:05.123Z');
});

test('relative to now: seconds, minutes, hours, days', () => {
  assert.equal(moment('-90s'), '2026-12-01T19:58:30.000Z');
  assert.equal(moment('-5m'), '2026-12-01T19:55:00.000Z');
  assert.equal(moment('-2h'), '2026-12-01T18:00:00.000Z');
  assert.equal(moment('-1d'), '2026-11-30T20:00:00.000Z');
  assert.equal(moment(' -1.5m '), '2026-12-01T19:58:30.000Z');
});

test('anything else is refused with the forms it takes', () => {
  assert.match(moment('2026-12-01 19:40:05'), /no zone/);
  assert.match(moment('yesterday'), /not a moment.*-90s/);
  assert.match(moment('+5m'), /not a moment/);
  assert.match(moment('-5w'), /not a moment/);
  assert.match(moment('2026-13-45T99:99:99Z'), /not a real date/);
  assert.match(moment(''), /not a moment/);
});

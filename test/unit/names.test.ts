import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nameProblem, NAME_MAX } from '../../server/engine/validate';

test('ordinary names, with spaces and unicode, are fine', () => {
  for (const ok of ['main', 'Bug 1234 data', 'after edge case data', 'feature-x', 'v1.2', 'Zoë', 'x'.repeat(NAME_MAX)]) {
    assert.equal(nameProblem(ok), undefined, ok);
  }
});

test('empty, too long, path-like and invisible names are refused with a reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/], ['x'.repeat(NAME_MAX + 1), /longer/], ['a/b', /slash/], ['a\\b', /slash/], ['..', /\.\./],
    ['a..b', /\.\./], ['tab\tname', /control/], ['nul\u0000', /control/], ['del\u007f', /control/],
    [' lead', /space/], ['trail ', /space/], ['-rf', /"-"/],
  ];
  for (const [value, reason] of cases) assert.match(nameProblem(value) ?? '', reason, JSON.stringify(value));
});

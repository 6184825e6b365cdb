import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commitBookmarkName, sanitizeName } from '../../extension/git/naming';
import { nameProblem, NAME_MAX, referenceProblem, userNameKey } from '../../server/common/names';

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

/** Issue 10: names that display as something else, or hide part of themselves. */
const CONFUSABLE: Array<[string, RegExp]> = [
  ['invoice\u202Egpj.exe', /U\+202E, a bidirectional-text control/], ['a\u202Ab', /bidirectional/],
  ['a\u2066b\u2069', /bidirectional/], ['left\u200Eright', /bidirectional/], ['a\u200Fb', /bidirectional/],
  ['arabic\u061Cmark', /U\+061C, a bidirectional/],
  ['zero\u200Bwidth', /U\+200B, an invisible zero-width/], ['a\u200Cb', /zero-width/], ['a\u200Db', /zero-width/],
  ['word\u2060joiner', /zero-width/], ['\uFEFFbom', /U\+FEFF, an invisible zero-width/],
  ['line\u2028sep', /U\+2028, a line or paragraph separator/], ['para\u2029sep', /separator/],
  ['lone\uD800', /surrogate/], ['\uDC00lone', /surrogate/], ['swapped\uDC00\uD800', /surrogate/],
  ['mangled\uFFFD', /U\+FFFD, the replacement character/],
  ['soft\u00ADhyphen', /invisible formatting/], ['no\u00A0break', /U\+00A0, a space other than the ordinary one/],
];

test('confusable names (bidi controls, zero-width, separators, broken Unicode) are refused, saying which character and why', () => {
  for (const [value, reason] of CONFUSABLE) assert.match(nameProblem(value) ?? 'accepted', reason, JSON.stringify(value));
  // A whole surrogate pair is a character like any other.
  assert.equal(nameProblem('Bug 🐛 data'), undefined);
  // A reference (to look up, to delete) keeps only the old rules: an older engine may have stored such a name.
  for (const [value] of CONFUSABLE.filter(([v]) => v.trim() === v)) assert.equal(referenceProblem(value), undefined, JSON.stringify(value));
  assert.match(referenceProblem('a/b') ?? '', /slash/);
});

test('user names that differ only by case or Unicode compatibility form have the same key', () => {
  for (const twin of ['Qa', 'QA', 'ＱＡ', 'ｑａ', 'qa']) assert.equal(userNameKey(twin), userNameKey('qa'), twin);
  assert.equal(userNameKey('STRASSE'), userNameKey('straße'));
  assert.notEqual(userNameKey('qa'), userNameKey('qa2'));
  assert.notEqual(userNameKey('dev'), userNameKey('qa'));
});

test('names made from free text (commit subjects) drop hidden characters and never cut an emoji in half', () => {
  const n = commitBookmarkName('0123456789abcdef', 'Fix\u200B the \u202Etotal\u2028now\u00A0ok');
  assert.equal(n, '0123456 Fix the total now ok');
  assert.equal(nameProblem(n), undefined);
  for (let i = 50; i < 60; i++) {
    const cut = sanitizeName(`${'x'.repeat(i)}${'🐛'.repeat(10)}`);
    assert.equal(nameProblem(cut), undefined, `after ${i} x: ${JSON.stringify(cut)}`);
  }
});

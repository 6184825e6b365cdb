import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commitBookmarkName } from '../../extension/git/naming';
import { freeBranchName, sanitizeName } from '../../server/common/freeNames';
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

test('open LINK of a bookmark named 55 letters, a space, then more text: the branch name is valid, and so is the next', () => {
  const bookmark = `${'a'.repeat(55)} and then some more text`;
  const first = freeBranchName(bookmark, []);
  assert.equal(nameProblem(first), undefined, JSON.stringify(first));
  assert.equal(first, bookmark.slice(0, NAME_MAX));
  const second = freeBranchName(bookmark, [first]);
  assert.equal(nameProblem(second), undefined, JSON.stringify(second));
  assert.equal(second, `${bookmark.slice(0, NAME_MAX - 2)}-2`);
  // A cut that lands just after a space drops the space before the suffix.
  const spaced = `${'b'.repeat(61)} cd`;
  assert.equal(freeBranchName(spaced, [spaced]), `${'b'.repeat(61)}-2`);
  assert.equal(freeBranchName(`${'c'.repeat(60)} d`, [`${'c'.repeat(60)} d`, `${'c'.repeat(60)} d-2`]), `${'c'.repeat(60)} d-3`);
});

test('free branch names: sanitized, fallback when nothing is left, suffixed until free, never against the name rules', () => {
  assert.equal(freeBranchName('Bug 1234 data', []), 'Bug 1234 data');
  assert.equal(freeBranchName('Bug 1234 data', ['Bug 1234 data']), 'Bug 1234 data-2');
  assert.equal(freeBranchName('Bug 1234 data', ['Bug 1234 data', 'Bug 1234 data-2']), 'Bug 1234 data-3');
  assert.equal(freeBranchName('  --a/b..c\\d\u0001e  ', []), 'a-b.c-d e');
  assert.equal(freeBranchName('  \u200b/ ', []), 'bookmark');
  assert.equal(freeBranchName('', ['bookmark']), 'bookmark-2');
  assert.equal(freeBranchName('///', [], 'git-branch'), 'git-branch');
  const texts = [
    `${'a'.repeat(55)} and then some more text`, `${'x'.repeat(62)} y`, `${'x'.repeat(63)} `, ` ${'x'.repeat(70)}`,
    `${'x'.repeat(61)}..yyy`, `${'x'.repeat(61)}.yyy`, `${'x'.repeat(58)}${'🐛'.repeat(10)}`, `-${' '.repeat(70)}z`,
    `${'x'.repeat(60)}\u00a0\u00a0zz`, `${'x'.repeat(61)}\u202ezz`, 'a/../b', '- x', '  ',
  ];
  for (const text of texts) {
    const taken: string[] = [];
    for (let i = 0; i < 12; i++) {
      const name = freeBranchName(text, taken);
      assert.equal(nameProblem(name), undefined, `${JSON.stringify(text)} → ${JSON.stringify(name)}`);
      assert.ok(!taken.includes(name), `${JSON.stringify(name)} is free`);
      taken.push(name);
    }
  }
});

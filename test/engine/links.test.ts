import assert from 'node:assert/strict';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { BookmarkInfo, BranchInfo, EngineStatus } from '../../server/protocol';
import { FIXTURES, TestEngine } from '../support/engine';

/** `bookmark link` and `open` through the real CLI: the link a reviewer clicks, outside VS Code. */
let e: TestEngine;

before(async () => {
  e = await TestEngine.start();
  e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  e.ok('container', 'create', 'qa', '--template', 'employees');
  e.ok('container', 'create', 'dev', '--template', 'employees');
});
after(async () => e?.destroy());

test('bookmark link shares the bookmark and prints the link and a Markdown line', async () => {
  await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('Bug', '1234')`);
  e.ok('bookmark', 'create', 'Bug 1234 data', '--container', 'qa');
  const { link, markdown, bookmark } = e.ok<{ link: string; markdown: string; bookmark: BookmarkInfo }>('bookmark', 'link', 'Bug 1234 data');
  const engineId = e.ok<EngineStatus>('engine', 'status').engineId;
  assert.equal(link, `vscode://slipstream.slipstream/bookmark?engine=${engineId}&id=${bookmark.id}`);
  assert.equal(markdown, `🔖 Data for this bug: [Bug 1234 data](${link})`);
  assert.equal(bookmark.shared, true);
});

test('open LINK branches from the bookmark into my container and activates it', async () => {
  const { link } = e.ok<{ link: string }>('bookmark', 'link', 'Bug 1234 data');
  const b = e.ok<BranchInfo>('open', link, '--container', 'dev');
  assert.equal(b.name, 'Bug 1234 data');
  assert.equal(b.active, true);
  assert.equal((await e.sql<{ n: string }>('dev', `SELECT count(*) AS n FROM employees WHERE last_name = '1234'`))[0].n, '1');
  const again = e.ok<BranchInfo>('open', link, '--container', 'dev');
  assert.equal(again.name, 'Bug 1234 data-2', 'a second open gets a free name');
});

test('open LINK of a bookmark whose name fills the limit gives valid, free branch names (issue 14)', () => {
  // 55 letters, a space, then more: a cut at the old 56 left a trailing space the engine refused.
  const name = `${'a'.repeat(55)} and more`;
  e.ok('bookmark', 'create', name, '--container', 'qa');
  const { link } = e.ok<{ link: string }>('bookmark', 'link', name);
  const first = e.ok<BranchInfo>('open', link, '--container', 'dev');
  const second = e.ok<BranchInfo>('open', link, '--container', 'dev');
  assert.equal(first.name, name);
  assert.match(second.name, /^a+ and mo?r?e?-2$/, second.name);
  assert.ok(second.name.length <= 64 && !/\s-2$/.test(second.name), second.name);
});

test('bad links change nothing', async () => {
  await e.idle(); // spares and dehydrations change the branch list in the background
  const before = JSON.stringify(e.ok<BranchInfo[]>('branch', 'list', '--container', 'dev'));
  const bad = [
    'not a link',
    'vscode://slipstream.slipstream/bookmark?engine=eng_000000000000&id=bm_000000000000',
    'vscode://slipstream.slipstream/bookmark?engine=tcp%3A%2F%2Fteam%3A7370&id=bm_000000000000',
  ];
  const codes = bad.map((link) => e.cli('open', link, '--container', 'dev'));
  for (const r of codes) assert.equal(r.code, 1, r.stdout);
  assert.match(codes[1].stderr, /this link is for the local engine eng_000000000000, not this one \(eng_[0-9a-f]{12}\)/);
  assert.match(codes[2].stderr, /--engine tcp:\/\/team:7370/);
  e.fails('NotFound', 'open', 'bm_000000000000', '--container', 'dev');
  assert.equal(JSON.stringify(e.ok<BranchInfo[]>('branch', 'list', '--container', 'dev')), before);
});

test('a refused link or a token pasted as a link is not echoed back (issue 10)', () => {
  const token = 'slp_' + 'x'.repeat(20) + 'SECRETPART' + 'y'.repeat(13);
  for (const text of [token, `vscode://slipstream.slipstream/bookmark?engine=${encodeURIComponent(`tcp://u:${token}@team:7370`)}&id=bm_000000000000`]) {
    const r = e.cli('open', text, '--container', 'dev');
    assert.equal(r.code, 1, r.stdout);
    assert.ok(!(r.stdout + r.stderr).includes('SECRETPART'), `the token is echoed: ${r.stdout}${r.stderr}`);
  }
});

import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { BookmarkInfo, BranchInfo, TimelinePage } from '../../server/protocol';
import { TestEngine } from '../support/engine';

/** Git context on bookmarks, and data branches linked to git branches, kept in the engine. */
let e: TestEngine;
let repo: string;
const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();

before(async () => {
  e = await TestEngine.start();
  e.ok('template', 'create', 'blank', '--empty');
  e.ok('container', 'create', 'dev', '--template', 'blank');
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-git-'));
  git('init', '-q', '-b', 'feature/x');
  git('-c', 'user.email=t@example.com', '-c', 'user.name=T', 'commit', '-q', '--allow-empty', '-m', 'first');
  git('remote', 'add', 'origin', 'https://example.com/shop.git');
});
after(async () => { await e?.destroy(); fs.rmSync(repo, { recursive: true, force: true }); });

test('a bookmark taken in a git repository records its branch, commit and remote', () => {
  const bm = e.ok<BookmarkInfo>('bookmark', 'show', JSON.parse(e.cliIn(repo, 'bookmark', 'create', 'at commit', '--container', 'dev').stdout).id);
  assert.deepEqual(bm.git, { branch: 'feature/x', commit: git('rev-parse', 'HEAD'), remote: 'https://example.com/shop.git' });
  const manual = e.ok<BookmarkInfo>('bookmark', 'create', 'manual', '--container', 'dev', '--git-branch', 'main', '--git-commit', 'abc123');
  assert.equal(manual.git?.branch, 'main');
  assert.equal(manual.git?.commit, 'abc123');
});

test('link and unlink a data branch to a git branch; one data branch per git branch', () => {
  e.ok('branch', 'create', 'feature-x', '--container', 'dev', '--from-template');
  const linked = e.ok<BranchInfo>('branch', 'link', 'feature-x', '--git-branch', 'feature/x', '--container', 'dev');
  assert.equal(linked.gitBranch, 'feature/x');
  assert.equal(e.ok<BranchInfo[]>('branch', 'list', '--container', 'dev').find((b) => b.name === 'feature-x')?.gitBranch, 'feature/x');
  const taken = e.fails('InUse', 'branch', 'link', 'main', '--git-branch', 'feature/x', '--container', 'dev');
  assert.match(taken.message, /already linked to data branch "feature-x"/);
  e.fails('InvalidName', 'branch', 'link', 'main', '--git-branch', 'bad..name', '--container', 'dev');
  const unlinked = e.ok<BranchInfo>('branch', 'unlink', 'feature-x', '--container', 'dev');
  assert.equal(unlinked.gitBranch, undefined);
  const kinds = e.ok<TimelinePage>('timeline', '--container', 'dev').events.map((ev) => ev.kind);
  assert.ok(kinds.includes('branch-linked') && kinds.includes('branch-unlinked'));
});

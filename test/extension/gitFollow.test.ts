import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { runCommand } from '../../extension/commands';
import { GitFollower, type FollowResult, type FollowSettings } from '../../extension/git/follow';
import { COMMIT_TAG } from '../../extension/git/naming';
import { HeadSettler, type Head } from '../../extension/git/settle';
import type { BookmarkInfo, BranchInfo, TimelinePage } from '../../server/protocol';
import { FIXTURES, TestEngine } from '../support/engine';
import { Window } from './harness';

/**
 * Data branches that follow git branches, against a real engine and a real
 * git repository: every checkout runs `git` in a shell, the HEAD it leaves is
 * read back from the repository (`git symbolic-ref` / `git rev-parse`), goes
 * through the settle logic with a real clock, and the follower acts on the
 * engine. Only the person answering notifications is scripted.
 */
const SETTLE_MS = 150;

function git(repo: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GIT_AUTHOR_NAME: 'qa', GIT_AUTHOR_EMAIL: 'qa@example.com', GIT_COMMITTER_NAME: 'qa', GIT_COMMITTER_EMAIL: 'qa@example.com' } }).trim();
}

/** HEAD as the repository says it is, the way the git extension reports it. */
function readHead(repo: string): Head {
  let branch: string | undefined;
  try { branch = git(repo, 'symbolic-ref', '-q', '--short', 'HEAD'); } catch { branch = undefined; }
  let commit: string | undefined;
  try { commit = git(repo, 'rev-parse', '-q', '--verify', 'HEAD'); } catch { commit = undefined; }
  return { branch: branch || undefined, commit: commit || undefined };
}

describe('data branches follow git branches (real engine, real git)', () => {
  let e: TestEngine;
  let w: Window;
  let repo: string;
  let settler: HeadSettler;
  const settings: FollowSettings = { autoSwitch: 'on', newBranchFrom: 'current', bookmarkOnCommit: false };
  const never = new Set<string>();
  let pending: Array<Promise<FollowResult[]>> = [];

  /** Runs git as a terminal would, then lets the "git extension" report the HEAD it sees. */
  const shell = (...args: string[]) => {
    const out = git(repo, ...args);
    settler.observe(repo, readHead(repo));
    return out;
  };
  /** Waits for the quiet time, then for everything the follower started. */
  const settled = async (): Promise<FollowResult[]> => {
    await new Promise((r) => setTimeout(r, SETTLE_MS + 100));
    const all = (await Promise.all(pending)).flat();
    pending = [];
    return all;
  };
  const branches = () => e.ok<BranchInfo[]>('branch', 'list', '--container', 'dev');
  // What a git checkout may change; spares and dehydrations change the rest in the background.
  const branchState = () => JSON.stringify(branches().map((b) => [b.id, b.name, b.active, b.gitBranch]));
  const active = () => branches().find((b) => b.active)!;
  const rows = async (where: string) => Number((await e.sql<{ n: string }>('dev', `SELECT count(*) AS n FROM employees WHERE ${where}`))[0].n);

  before(async () => {
    e = await TestEngine.start();
    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    e.ok('container', 'create', 'dev', '--template', 'employees');
    w = new Window(e.home);
    assert.equal(await w.connection.connect(), true);
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-git-'));
    git(repo, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(repo, 'app.txt'), 'v1\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'First commit');
    w.session.gitContext = async () => { const h = readHead(repo); return { branch: h.branch, commit: h.commit }; };
    const follower = new GitFollower({
      session: w.session,
      settings: () => settings,
      prefs: { isNever: (r) => never.has(r), setNever: async (r) => { never.add(r); } },
      commitInfo: async (r, commit) => {
        const [parents, ...message] = git(r, 'log', '-1', '--format=%P%n%B', commit).split('\n');
        return { parents: parents.split(' ').filter(Boolean), message: message.join('\n') };
      },
      log: (line) => w.log.push(line),
    });
    settler = new HeadSettler((move) => { pending.push(follower.onMove(move)); }, SETTLE_MS);
    settler.observe(repo, readHead(repo)); // the window opens on main: the baseline
  });
  after(async () => {
    settler?.dispose();
    w?.dispose();
    await e?.destroy();
    if (repo) fs.rmSync(repo, { recursive: true, force: true });
  });
  beforeEach(() => {
    Object.assign(settings, { autoSwitch: 'on', newBranchFrom: 'current', bookmarkOnCommit: false });
    assert.deepEqual(w.ui.errors, []);
  });

  test('the first checkout of feature/x creates feature-x from the active data branch, links it, activates it', async () => {
    await e.sql('dev', `INSERT INTO employees (first_name, last_name) VALUES ('On', 'main')`);
    shell('checkout', '-q', '-b', 'feature/x');
    const results = await settled();
    assert.deepEqual(results, [{ action: 'created', branch: 'feature-x', from: { kind: 'branch', branch: 'main' } }]);
    const list = branches();
    assert.equal(active().name, 'feature-x');
    assert.equal(list.find((b) => b.name === 'feature-x')?.gitBranch, 'feature/x', 'the link is in the engine: the CLI shows it');
    assert.equal(list.find((b) => b.name === 'main')?.gitBranch, 'main', 'the data branch left behind belongs to the git branch left behind');
    assert.equal(await rows(`last_name = 'main'`), 1, 'a copy of the data branch active just before');
    assert.ok(w.ui.infos.some((m) => m.includes('new data branch feature-x')), w.ui.infos.join('\n'));
  });

  test('checking out main brings its data back; feature/x brings feature-x back', async () => {
    await e.sql('dev', `INSERT INTO employees (first_name, last_name) VALUES ('Only', 'feature')`);
    shell('checkout', '-q', 'main');
    assert.deepEqual(await settled(), [{ action: 'activated', branch: 'main' }]);
    assert.equal(active().name, 'main');
    assert.equal(await rows(`last_name = 'feature'`), 0);
    shell('checkout', '-q', 'feature/x');
    assert.deepEqual(await settled(), [{ action: 'activated', branch: 'feature-x' }]);
    assert.equal(await rows(`last_name = 'feature'`), 1);
  });

  test('a detached HEAD changes nothing', async () => {
    const before = branchState();
    shell('checkout', '-q', '--detach', 'main');
    assert.deepEqual(await settled(), [{ action: 'none', why: 'detached HEAD' }]);
    assert.equal(branchState(), before);
    shell('checkout', '-q', 'feature/x');
    assert.deepEqual(await settled(), [{ action: 'already', branch: 'feature-x' }], 'back on feature/x: its data branch never left');
  });

  test('rapid checkouts settle, then switch once', async () => {
    const timeline = () => e.ok<TimelinePage>('timeline', '--container', 'dev').events;
    const lastSeq = Math.max(...timeline().map((ev) => ev.seq));
    shell('checkout', '-q', '-b', 'burst/1');
    shell('checkout', '-q', '-b', 'burst/2');
    shell('checkout', '-q', 'main');
    shell('checkout', '-q', '-b', 'burst/3');
    const results = await settled();
    assert.deepEqual(results, [{ action: 'created', branch: 'burst-3', from: { kind: 'branch', branch: 'feature-x' } }]);
    const names = branches().map((b) => b.name);
    assert.ok(!names.includes('burst-1') && !names.includes('burst-2'), names.join(', '));
    const since = timeline().filter((ev) => ev.seq > lastSeq).map((ev) => `${ev.kind} ${ev.branch}`).sort();
    assert.deepEqual(since, ['branch-activated burst-3', 'branch-created burst-3', 'branch-linked burst-3'], 'one switch, no storm');
  });

  test('a data branch name taken by another link gets a suffix; an unlinked one of that name is adopted', async () => {
    e.ok('branch', 'create', 'hotfix-1', '--container', 'dev', '--from-template');
    e.ok('branch', 'link', 'hotfix-1', '--git-branch', 'elsewhere', '--container', 'dev');
    shell('checkout', '-q', '-b', 'hotfix/1');
    assert.deepEqual(await settled(), [{ action: 'created', branch: 'hotfix-1-2', from: { kind: 'branch', branch: 'burst-3' } }]);
    e.ok('branch', 'create', 'adopt-me', '--container', 'dev', '--from-template');
    shell('checkout', '-q', '-b', 'adopt/me');
    assert.deepEqual(await settled(), [{ action: 'activated', branch: 'adopt-me' }]);
    assert.equal(active().gitBranch, 'adopt/me');
  });

  test('newBranchFrom template: fresh template data', async () => {
    settings.newBranchFrom = 'template';
    shell('checkout', '-q', '-b', 'fresh');
    assert.deepEqual(await settled(), [{ action: 'created', branch: 'fresh', from: { kind: 'template' } }]);
    assert.equal(await rows(`last_name IN ('main', 'feature')`), 0);
  });

  test('autoSwitch ask: Not now and Never for this repo change nothing; off changes nothing', async () => {
    settings.autoSwitch = 'ask';
    const before = branchState();
    w.ui.answer('Not now');
    shell('checkout', '-q', 'feature/x');
    assert.deepEqual(await settled(), [{ action: 'declined', why: 'not now' }]);
    assert.match(w.ui.asked.at(-1)!, /^choose: Git branch feature\/x is checked out\. Slipstream: activate data branch feature-x in dev\? \[Switch \| Not now \| Never for this repo\]/);
    assert.equal(branchState(), before);

    w.ui.answer('Switch');
    shell('checkout', '-q', 'main');
    assert.deepEqual(await settled(), [{ action: 'activated', branch: 'main' }]);

    w.ui.answer('Never');
    shell('checkout', '-q', 'feature/x');
    assert.deepEqual(await settled(), [{ action: 'declined', why: 'never for this repository' }]);
    assert.ok(never.has(repo));
    shell('checkout', '-q', 'fresh');
    assert.deepEqual(await settled(), [{ action: 'none', why: 'never for this repository' }]);
    never.clear();

    settings.autoSwitch = 'off';
    shell('checkout', '-q', 'main');
    assert.deepEqual(await settled(), [{ action: 'none', why: 'slipstream.git.autoSwitch is off' }]);
    assert.equal(active().name, 'main');
    assert.equal(w.ui.pending, 0);
  });

  test('bookmarks carry the git branch and commit; bookmark on commit, and a later checkout offers to restore it', async () => {
    shell('checkout', '-q', 'feature/x');
    await settled();
    w.ui.answer('manual', '');
    const manual = await runCommand(w.session, 'slipstream.bookmark.create', { ref: { kind: 'container', container: 'dev', template: 'employees' } });
    assert.ok(manual.ok, manual.error);
    assert.deepEqual((manual.result as BookmarkInfo).git, { branch: 'feature/x', commit: git(repo, 'rev-parse', 'HEAD') });

    settings.bookmarkOnCommit = true;
    await e.sql('dev', `INSERT INTO employees (first_name, last_name) VALUES ('At', 'commit')`);
    fs.writeFileSync(path.join(repo, 'app.txt'), 'v2\n');
    shell('commit', '-q', '-am', 'Raise prices / fix totals');
    const sha = git(repo, 'rev-parse', 'HEAD');
    const [made] = await settled();
    assert.equal(made.action, 'bookmarked');
    const bm = (made as { bookmark: BookmarkInfo }).bookmark;
    assert.equal(bm.name, `${sha.slice(0, 7)} Raise prices - fix totals`);
    assert.deepEqual(bm.git, { branch: 'feature/x', commit: sha });
    assert.deepEqual(bm.tags, [COMMIT_TAG]);

    await e.sql('dev', `DELETE FROM employees WHERE last_name = 'commit'`);
    shell('checkout', '-q', 'main');
    await settled();
    w.ui.answer('Restore');
    shell('checkout', '-q', sha);
    const results = await settled();
    assert.deepEqual(results.map((r) => r.action), ['none', 'restored']);
    assert.match(w.ui.asked.at(-1)!, new RegExp(`Commit ${sha.slice(0, 7)} has a data bookmark`));
    assert.equal(active().name, 'main', 'detached: the data branch stays, and is restored to the bookmark');
    assert.equal(await rows(`last_name = 'commit'`), 1);
  });
});

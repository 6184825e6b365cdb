import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gitContextOf, headOf, repositoryFor, stripCredentials, type GitRepository } from '../../extension/git/api';
import { commitBookmarkName, dataBranchName } from '../../extension/git/naming';
import { sanitizeName } from '../../server/common/freeNames';
import { classifyMove, HeadSettler, type Clock, type HeadMove } from '../../extension/git/settle';
import { nameProblem } from '../../server/common/names';

/** A clock that moves only when told to: the settle logic's timing, without sleeping. */
class FakeClock implements Clock {
  now = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = end;
  }
  get pending(): number {
    return this.timers.size;
  }
}

describe('HEAD settle logic', () => {
  const setup = () => {
    const clock = new FakeClock();
    const moves: HeadMove[] = [];
    const settler = new HeadSettler((m) => moves.push(m), 600, clock);
    return { clock, moves, settler };
  };

  test('the first HEAD is the baseline; a checkout is reported once, 600 ms after the last change', () => {
    const { clock, moves, settler } = setup();
    settler.observe('/r', { branch: 'main', commit: 'a1' });
    clock.advance(5000);
    assert.deepEqual(moves, [], 'opening a window is not a checkout');
    settler.observe('/r', { branch: 'feature/x', commit: 'a1' });
    clock.advance(599);
    assert.deepEqual(moves, []);
    clock.advance(1);
    assert.deepEqual(moves, [{ repo: '/r', from: { branch: 'main', commit: 'a1' }, to: { branch: 'feature/x', commit: 'a1' } }]);
  });

  test('a rebase-like burst settles into one move, to where HEAD ends', () => {
    const { clock, moves, settler } = setup();
    settler.observe('/r', { branch: 'main', commit: 'a1' });
    const burst = [{ commit: 'b1' }, { commit: 'b2' }, { commit: 'b3' }, { branch: 'topic', commit: 'b3' }];
    for (const head of burst) {
      settler.observe('/r', head);
      clock.advance(200);
    }
    assert.equal(moves.length, 0, 'nothing while HEAD keeps moving');
    clock.advance(400);
    assert.equal(moves.length, 1);
    assert.deepEqual(moves[0].to, { branch: 'topic', commit: 'b3' });
    assert.equal(clock.pending, 0);
  });

  test('moving away and back within the quiet time is no move at all; same HEAD again is ignored', () => {
    const { clock, moves, settler } = setup();
    settler.observe('/r', { branch: 'main', commit: 'a1' });
    settler.observe('/r', { branch: 'other', commit: 'c1' });
    clock.advance(100);
    settler.observe('/r', { branch: 'main', commit: 'a1' });
    clock.advance(1000);
    settler.observe('/r', { branch: 'main', commit: 'a1' });
    clock.advance(1000);
    assert.deepEqual(moves, []);
  });

  test('repositories settle independently; undefined HEADs and forgotten repositories are ignored', () => {
    const { clock, moves, settler } = setup();
    settler.observe('/a', undefined);
    settler.observe('/a', { branch: 'main', commit: 'a1' });
    settler.observe('/b', { branch: 'main', commit: 'b1' });
    settler.observe('/a', { branch: 'x', commit: 'a1' });
    clock.advance(300);
    settler.observe('/b', { branch: 'y', commit: 'b1' });
    clock.advance(300);
    assert.deepEqual(moves.map((m) => `${m.repo}:${m.to.branch}`), ['/a:x']);
    clock.advance(300);
    assert.deepEqual(moves.map((m) => `${m.repo}:${m.to.branch}`), ['/a:x', '/b:y']);
    settler.observe('/a', { branch: 'z', commit: 'a1' });
    settler.forget('/a');
    clock.advance(1000);
    assert.equal(moves.length, 2);
    settler.observe('/a', { branch: 'z', commit: 'a1' });
    clock.advance(1000);
    assert.equal(moves.length, 2, 'a reopened repository starts from a new baseline');
    settler.dispose();
  });

  test('moves are classified: checkout, commit, other', () => {
    const m = (from: HeadMove['from'], to: HeadMove['to']): HeadMove => ({ repo: '/r', from, to });
    assert.equal(classifyMove(m({ branch: 'main', commit: 'a' }, { branch: 'x', commit: 'a' }), undefined), 'checkout');
    assert.equal(classifyMove(m({ branch: 'main', commit: 'a' }, { commit: 'b' }), undefined), 'checkout', 'to a detached HEAD');
    assert.equal(classifyMove(m({ commit: 'a' }, { commit: 'b' }), undefined), 'checkout', 'detached to detached');
    assert.equal(classifyMove(m({ branch: 'main', commit: 'a' }, { branch: 'main', commit: 'b' }), ['a']), 'commit');
    assert.equal(classifyMove(m({ branch: 'main' }, { branch: 'main', commit: 'b' }), []), 'commit', 'the first commit');
    assert.equal(classifyMove(m({ branch: 'main', commit: 'a' }, { branch: 'main', commit: 'c' }), ['b']), 'other', 'a reset or a pull');
    assert.equal(classifyMove(m({ branch: 'main', commit: 'a' }, { branch: 'main', commit: 'c' }), undefined), 'other');
  });
});

describe('names from git', () => {
  test('git branch → data branch name: valid for the engine, unique when taken', () => {
    assert.equal(dataBranchName('feature/x'), 'feature-x');
    assert.equal(dataBranchName('main'), 'main');
    assert.equal(dataBranchName('user/jo/fix..it'), 'user-jo-fix.it');
    assert.equal(dataBranchName('-x'), 'x');
    assert.equal(dataBranchName('feature/x', ['feature-x']), 'feature-x-2');
    assert.equal(dataBranchName('feature/x', ['feature-x', 'feature-x-2']), 'feature-x-3');
    const long = `team/${'a'.repeat(100)}`;
    assert.equal(dataBranchName(long).length, 64);
    const second = dataBranchName(long, [dataBranchName(long)]);
    assert.equal(second.length, 64);
    assert.match(second, /-2$/);
    for (const g of ['feature/x', 'a//b', 'x/../y', 'release/1.2', long, '/', 'ü/ß', 'a\\b', '--x']) {
      const n = dataBranchName(g);
      assert.equal(nameProblem(n), undefined, `${g} → ${n}`);
      assert.equal(nameProblem(dataBranchName(g, [n])), undefined);
    }
  });

  test('commit → bookmark name: short sha and subject, sanitized', () => {
    assert.equal(commitBookmarkName('0123456789abcdef', 'Fix order totals\n\nLong body'), '0123456 Fix order totals');
    assert.equal(commitBookmarkName('0123456789abcdef', 'a/b..c  d'), '0123456 a-b.c d');
    assert.equal(commitBookmarkName('0123456789abcdef', ''), '0123456');
    const n = commitBookmarkName('0123456789abcdef', 'x'.repeat(200));
    assert.equal(n.length, 64);
    assert.equal(nameProblem(n), undefined);
    assert.equal(sanitizeName('  \u0001 '), '');
  });
});

describe('git context for bookmarks', () => {
  const repo = (root: string, head: GitRepository['state']['HEAD'], remotes: GitRepository['state']['remotes'] = []): GitRepository => ({
    rootUri: { fsPath: root },
    state: { HEAD: head, remotes, onDidChange: () => ({ dispose() {} }) },
    getCommit: async () => { throw new Error('unused'); },
    checkout: async () => undefined,
  });

  test('branch, commit and remote (upstream first, no credentials); detached HEAD has no branch', () => {
    const r = repo('/w', { type: 0, name: 'feature/x', commit: 'abc', upstream: { remote: 'up', name: 'feature/x' } },
      [{ name: 'origin', fetchUrl: 'https://o/x.git' }, { name: 'up', fetchUrl: 'https://me:secret@host/y.git' }]);
    assert.deepEqual(gitContextOf(r), { branch: 'feature/x', commit: 'abc', remote: 'https://host/y.git' });
    assert.deepEqual(gitContextOf(repo('/w', { type: 0, commit: 'abc' }, [{ name: 'origin', fetchUrl: 'git@h:x.git' }])), { commit: 'abc', remote: 'git@h:x.git' });
    assert.deepEqual(headOf(repo('/w', { type: 0, commit: 'abc' })), { branch: undefined, commit: 'abc' });
    assert.equal(gitContextOf(repo('/w', undefined)), undefined);
    assert.equal(stripCredentials('ssh://git@host/x'), 'ssh://host/x');
  });

  test('the workspace folder picks the innermost repository', () => {
    const outer = repo('/w', undefined);
    const inner = repo('/w/sub', undefined);
    assert.equal(repositoryFor([outer, inner], '/w/sub/pkg'), inner);
    assert.equal(repositoryFor([outer, inner], '/w/other'), outer);
    assert.equal(repositoryFor([outer, inner], '/elsewhere'), outer);
    assert.equal(repositoryFor([], '/w'), undefined);
  });
});

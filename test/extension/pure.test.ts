import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'node:test';
import { parseTags } from '../../extension/commands/bookmarks';
import { suggestBranchName } from '../../extension/commands/branches';
import { findNode } from '../../extension/engine/launcher';
import { engineTarget } from '../../extension/engine/target';
import { databaseEnv } from '../../extension/model/env';
import { escapeMarkdown } from '../../extension/model/format';
import { containerNode } from '../../extension/model/nodes';
import { refOf } from '../../extension/model/refs';
import { statusBar, workspaceContainer } from '../../extension/model/status';
import { timelineModel } from '../../extension/model/timeline';
import { TimelinePages } from '../../extension/model/timelinePages';
import { NO_HOOKS } from '../../server/common/hooks';
import { parseWorkspaceConfig } from '../../server/common/workspaceConfig';
import type { BranchInfo, ContainerInfo, TimelineEvent, TimelinePage } from '../../server/protocol';
import { isFromWebview, isToWebview } from '../../webview/protocol';

test('engine setting: home directories and team URLs', () => {
  assert.deepEqual(engineTarget('', '/home/u'), { kind: 'local', home: '/home/u/.slipstream' });
  assert.deepEqual(engineTarget(undefined, '/home/u'), { kind: 'local', home: '/home/u/.slipstream' });
  assert.deepEqual(engineTarget('~/data/slip', '/home/u'), { kind: 'local', home: '/home/u/data/slip' });
  assert.deepEqual(engineTarget('/srv/slip', '/home/u'), { kind: 'local', home: '/srv/slip' });
  assert.deepEqual(engineTarget(' tls://team:7420 ', '/home/u'), { kind: 'remote', url: 'tls://team:7420' });
  assert.deepEqual(engineTarget('TCP://Team.Example:7420/', '/home/u'), { kind: 'remote', url: 'tcp://team.example:7420' });
});

test('node for the engine: setting, then PATH, then a plain-Node execPath, never Electron', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-node-'));
  const node = path.join(dir, 'node');
  fs.writeFileSync(node, '#!/bin/sh\n', { mode: 0o755 });
  assert.deepEqual(findNode({ setting: node, execPath: '/electron', electron: true }), { ok: true, node, why: 'the slipstream.nodePath setting' });
  assert.equal(findNode({ setting: path.join(dir, 'missing'), execPath: '/x', electron: false }).ok, false);
  assert.deepEqual(findNode({ pathEnv: `/nonexistent${path.delimiter}${dir}`, execPath: '/electron', electron: true }), { ok: true, node, why: 'PATH' });
  assert.deepEqual(findNode({ pathEnv: '/nonexistent', execPath: '/usr/bin/node20', electron: false }).ok, true);
  const none = findNode({ pathEnv: '/nonexistent', execPath: '/electron', electron: true });
  assert.equal(none.ok, false);
  assert.match(none.ok ? '' : none.message, /slipstream\.nodePath/);
  fs.rmSync(dir, { recursive: true });
});

test('slipstream.json: template with source, defaults and clear errors', () => {
  const ok = parseWorkspaceConfig(JSON.stringify({ template: { name: 'employees', source: { kind: 'sql', files: ['db/a.sql'] } }, container: 'emp-dev' }), '/repo');
  assert.deepEqual(ok, { ok: true, config: { template: 'employees', source: { kind: 'sql', files: ['/repo/db/a.sql'] }, container: 'emp-dev', hooks: NO_HOOKS } });
  const short = parseWorkspaceConfig('{"template":"shop"}', '/repo');
  assert.deepEqual(short, { ok: true, config: { template: 'shop', source: undefined, container: 'shop', hooks: NO_HOOKS } });
  const cmd = parseWorkspaceConfig('{"template":{"name":"t","source":{"kind":"command","command":"npm run seed"}}}', '/repo');
  assert.deepEqual(cmd.ok && cmd.config.source, { kind: 'command', command: 'npm run seed', cwd: '/repo' });
  for (const [text, why] of [['{', /not valid JSON/], ['[]', /JSON object/], ['{"template":3}', /"template"/],
    ['{"template":{"name":"t","source":{"kind":"ftp"}}}', /unknown source kind "ftp"/], ['{"template":{"name":"t","source":{"kind":"sql","files":[]}}}', /non-empty/]] as const) {
    const r = parseWorkspaceConfig(text, '/repo');
    assert.equal(r.ok, false, text);
    assert.match(r.ok ? '' : r.message, why);
    assert.match(r.ok ? '' : r.message, /^slipstream\.json: /);
  }
});

test('small helpers: tags, branch name suggestions, markdown escaping, env', () => {
  assert.deepEqual(parseTags(' qa, bug-1234 ,,qa '), ['qa', 'bug-1234']);
  assert.deepEqual(parseTags(''), []);
  assert.equal(suggestBranchName('Bug 1234 data'), 'bug-1234-data');
  assert.equal(suggestBranchName('***'), 'branch');
  assert.equal(escapeMarkdown('a*b_[x](y)'), 'a\\*b\\_\\[x\\]\\(y\\)');
  assert.deepEqual(Object.keys(databaseEnv({ url: 'postgres://u:p@h:1/d', host: 'h', port: 1, user: 'u', password: 'p', database: 'd' })),
    ['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE']);
});

test('command arguments and webview messages are narrowed, not trusted', () => {
  const ref = { kind: 'container', container: 'dev', template: 't' } as const;
  assert.deepEqual(refOf({ ref }), ref);
  assert.deepEqual(refOf(ref), ref);
  assert.equal(refOf({ kind: 'nope' }), undefined);
  assert.equal(refOf('dev'), undefined);
  assert.equal(isFromWebview({ type: 'ready' }), true);
  assert.equal(isFromWebview({ type: 'loadOlder' }), true);
  assert.equal(isFromWebview({ type: 'action', action: 'restore', bookmarkId: 'b1' }), true);
  assert.equal(isFromWebview({ type: 'action', action: 'drop table', bookmarkId: 'b1' }), false);
  assert.equal(isFromWebview({ type: 'action', action: 'restore' }), false);
  assert.equal(isFromWebview({ type: 'moment', action: 'restore', at: '2026-12-01T19:40:05.000Z', branch: 'main' }), true);
  assert.equal(isFromWebview({ type: 'moment', action: 'drop', at: '2026-12-01T19:40:05.000Z', branch: 'main' }), false);
  assert.equal(isFromWebview({ type: 'moment', action: 'branch', at: 42, branch: 'main' }), false);
  assert.equal(isFromWebview({ type: 'moment', action: 'branch', at: 'x'.repeat(65), branch: 'main' }), false);
  assert.equal(isFromWebview(null), false);
  assert.equal(isToWebview({ type: 'status', connected: false }), true);
  assert.equal(isToWebview({ type: 'model' }), false);
});

const container: ContainerInfo = {
  id: 'c1', name: 'dev', template: 'employees', templateVersion: 1, owner: 'me', host: '127.0.0.1', port: 5500,
  database: 'postgres', user: 'me', driver: 'blocks', activeBranch: 'main', branches: 1, state: 'running', createdAt: '2025-01-01T00:00:00Z',
};

test('status bar: connection states, no container, the workspace container', () => {
  assert.match(statusBar({ kind: 'disconnected', reason: 'x' }, undefined, 0).text, /engine down/);
  assert.equal(statusBar({ kind: 'disconnected', reason: 'x' }, undefined, 0).command, 'slipstream.engine.start');
  const connected = { kind: 'connected', status: {} } as Parameters<typeof statusBar>[0];
  assert.equal(statusBar(connected, undefined, 0).command, 'slipstream.provision');
  assert.equal(statusBar(connected, undefined, 2).command, 'slipstream.selectContainer');
  assert.equal(statusBar(connected, container, 1).text, '$(database) dev: main');
  const failed: ContainerInfo = { ...container, state: 'failed', failure: { reason: 'no space left on the pool', action: 'Free space, then run `slipstream container start dev`.', at: '2025-01-01T00:00:00Z' } };
  const bar = statusBar(connected, failed, 1);
  assert.equal(bar.text, '$(error) dev: main (failed)');
  assert.match(bar.tooltip, /database is down: no space left on the pool\. Free space/);
  assert.equal(bar.warning, true);
  const node = containerNode(failed);
  assert.equal(node.description, 'main · :5500 · failed: no space left on the pool');
  assert.match(node.tooltip, /The database is down:\*\* no space left on the pool .*container start dev/);
  assert.equal(node.icon.id, 'error');
  const other = { ...container, name: 'qa' };
  assert.equal(workspaceContainer([container, other], [undefined, 'qa'])?.name, 'qa');
  assert.equal(workspaceContainer([container, other], ['gone', undefined]), undefined);
  assert.equal(workspaceContainer([container], [undefined])?.name, 'dev');
});

test('timeline: 200 events stay one row each, newest first, lanes alive between creation and deletion', () => {
  const branches: BranchInfo[] = ['main', 'b1', 'b2'].map((name, i) => ({
    id: name, name, container: 'dev', active: name === 'main', origin: { kind: 'template', template: 'employees', version: 1 }, createdAt: `2025-01-0${i + 1}T00:00:00Z`,
  }));
  const events: TimelineEvent[] = [];
  const kinds = ['bookmark-created', 'restored', 'reset', 'branch-activated'] as const;
  events.push({ seq: 1, at: '2025-01-01T00:00:00Z', user: 'me', container: 'dev', kind: 'container-created', branch: 'main' });
  events.push({ seq: 2, at: '2025-01-01T00:00:00Z', user: 'me', container: 'dev', kind: 'branch-created', branch: 'gone' });
  for (let seq = 3; seq <= 199; seq++) {
    const kind = kinds[seq % kinds.length];
    events.push({ seq, at: '2025-01-02T00:00:00Z', user: 'me', container: 'dev', kind, branch: ['main', 'b1', 'b2'][seq % 3],
      bookmark: kind === 'bookmark-created' || kind === 'restored' ? { id: `bm${seq}`, name: `bm ${seq}` } : undefined });
  }
  events.push({ seq: 200, at: '2025-01-03T00:00:00Z', user: 'me', container: 'dev', kind: 'branch-deleted', branch: 'gone' });
  const m = timelineModel({ container, branches, events, bookmarks: [], user: 'me' });
  assert.equal(m.rows.length, 200);
  assert.deepEqual(m.rows.map((r) => r.seq), events.map((e) => e.seq).reverse());
  assert.deepEqual(m.lanes.map((l) => [l.branch, l.index, l.active, l.deleted]),
    [['main', 0, true, false], ['b1', 1, false, false], ['b2', 2, false, false], ['gone', 3, false, true]]);
  const gone = 3;
  assert.ok(m.rows.find((r) => r.seq === 100)!.alive.includes(gone), 'alive between creation and deletion');
  assert.ok(!m.rows.find((r) => r.seq === 1)!.alive.includes(gone), 'not alive before its creation');
  assert.equal(m.older, false);
  assert.equal(m.bookmarks.bm4.deleted, true, 'bookmarks only known from events are marked deleted');
});

test('timeline pages: older pages stay when newer events arrive; a gap is read across; another container starts over', () => {
  const ev = (seq: number): TimelineEvent => ({ seq, at: '2025-01-01T00:00:00Z', user: 'me', container: 'dev', kind: 'reset', branch: 'main' });
  // What the engine answers for a log of `newest` events, `limit` a page.
  const page = (newest: number, limit: number, before = newest + 1): TimelinePage => {
    const events: TimelineEvent[] = [];
    for (let seq = before - 1; seq >= 1 && events.length < limit; seq--) events.push(ev(seq));
    const oldest = events[events.length - 1]?.seq ?? 1;
    return oldest > 1 ? { events, before: oldest, restorable: [] } : { events, restorable: [] };
  };
  const seqs = (p: TimelinePages) => p.events.map((e) => e.seq);
  const pages = new TimelinePages();
  pages.takeNewest('c1', [page(10, 3)]);
  assert.deepEqual(seqs(pages), [10, 9, 8]);
  assert.equal(pages.older, 8);
  assert.equal(pages.takeOlder('c1', 8, page(10, 3, 8)), true);
  assert.deepEqual(seqs(pages), [10, 9, 8, 7, 6, 5]);
  assert.equal(pages.takeOlder('c1', 8, page(10, 3, 8)), false, 'a page for a cursor that has moved on is stale');
  assert.equal(pages.takeOlder('c2', 5, page(10, 3, 5)), false, 'and so is one for another container');

  // Two new events: the newest page overlaps what is loaded, nothing older is dropped.
  assert.equal(pages.gap('c1', [page(12, 3)]), undefined);
  pages.takeNewest('c1', [page(12, 3)]);
  assert.deepEqual(seqs(pages), [12, 11, 10, 9, 8, 7, 6, 5]);
  assert.equal(pages.older, 5, 'the cursor stays below the oldest page loaded');

  // Seven new events, pages of 3: read on until the pages meet.
  const fresh = [page(19, 3)];
  for (let before = pages.gap('c1', fresh); before !== undefined; before = pages.gap('c1', fresh)) fresh.push(page(19, 3, before));
  assert.equal(fresh.length, 3);
  pages.takeNewest('c1', fresh);
  assert.deepEqual(seqs(pages), [19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5]);

  // To the oldest: no cursor left.
  assert.equal(pages.takeOlder('c1', 5, page(19, 10, 5)), true);
  assert.equal(pages.older, undefined);
  assert.equal(seqs(pages).length, 19);

  // Another container (or the same name made again: another id) starts over.
  pages.takeNewest('c2', [page(4, 3)]);
  assert.deepEqual(seqs(pages), [4, 3, 2]);
  assert.equal(pages.older, 2);
  assert.equal(pages.gap('c2', [page(4, 3)]), undefined);
});

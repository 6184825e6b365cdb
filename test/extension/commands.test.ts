import assert from 'node:assert/strict';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { runCommand } from '../../extension/commands';
import { setupNeed, setupWorkspace } from '../../extension/commands/workspace';
import { branchChildren, containerChildren, containerNode, sharedChildren, sharedGroups, templateNode, templateVersionNodes } from '../../extension/model/nodes';
import { switchItems } from '../../extension/model/picks';
import type { BookmarkRef, BranchRef, ContainerRef } from '../../extension/model/refs';
import { timelineModel } from '../../extension/model/timeline';
import {
  BookmarkListRequest,
  BranchListRequest,
  ContainerListRequest,
  ContainerShowRequest,
  TemplateListRequest,
  TimelineRequest,
  type BookmarkInfo,
  type BranchInfo,
  type ContainerInfo,
} from '../../server/protocol';
import { FIXTURES, TestEngine } from '../support/engine';
import { eventually, Window } from './harness';

const EDGE_ROWS = `INSERT INTO employees (first_name, last_name, email) VALUES ('-1', 'negative', NULL), ('deleted', 'deleted', 'deleted'), ('''''', '', '''')`;

/**
 * The commands, tree items, quick picks and timeline of the extension, driven
 * as a user would from the sidebar (answers scripted), against a real engine
 * and real PostgreSQL.
 */
describe('extension commands against a real engine', () => {
  let e: TestEngine;
  let w: Window;
  const qaRef: ContainerRef = { kind: 'container', container: 'qa', template: 'employees' };

  before(async () => {
    e = await TestEngine.start();
    w = new Window(e.home);
    assert.equal(await w.connection.connect(), true);
  });
  after(async () => {
    w?.dispose();
    await e?.destroy();
  });

  test('create a template and provision a container from the sidebar; the workspace picks it up', async () => {
    w.ui.answer('employees', 'SQL files', [path.join(FIXTURES, 'employees.sql')]);
    const t = await runCommand(w.session, 'slipstream.template.create', undefined);
    assert.ok(t.ok, t.error);
    w.ui.answer('qa');
    const out = await runCommand(w.session, 'slipstream.provision', { ref: { kind: 'template', template: 'employees' } });
    assert.ok(out.ok, out.error);
    assert.equal((out.result as ContainerInfo).activeBranch, 'main');
    assert.deepEqual(w.ui.errors, []);
    assert.equal(w.ui.pending, 0);
    assert.ok(w.ui.progress.some((p) => p.title.startsWith('Provisioning container qa')));
    await eventually(() => w.workspace.snapshot.container?.name === 'qa' && w.workspace.snapshot.connection, 3000, 'workspace container');
    assert.equal(w.session.workspaceContainer(), 'qa');
  });

  test('story 1: bookmark, destroy, restore from the tree: every row back; declining changes nothing', async () => {
    await e.sql('qa', EDGE_ROWS);
    const before = await e.checksum('qa');
    w.ui.answer('after edge case data', 'edge, qa');
    const bm = await runCommand(w.session, 'slipstream.bookmark.create', { ref: qaRef });
    assert.ok(bm.ok, bm.error);
    const info = bm.result as BookmarkInfo;
    assert.deepEqual(info.tags, ['edge', 'qa']);

    await e.sql('qa', 'DELETE FROM employees');
    const ref: BookmarkRef = { kind: 'bookmark', id: info.id, name: info.name, container: 'qa', branch: 'main', template: 'employees', shared: false, mine: true };
    w.ui.answer(false); // "Restore qa to bookmark …?" → no
    assert.equal((await runCommand(w.session, 'slipstream.bookmark.restore', { ref })).result, undefined);
    assert.equal((await e.sql<{ n: string }>('qa', 'SELECT count(*) AS n FROM employees'))[0].n, '0', 'declined: nothing restored');

    w.ui.answer(true);
    const restored = await runCommand(w.session, 'slipstream.bookmark.restore', { ref });
    assert.ok(restored.ok, restored.error);
    assert.deepEqual(await e.checksum('qa'), before, 'every row back, byte for byte');
    assert.ok(w.ui.asked.some((q) => q.startsWith('confirm: Restore qa to bookmark after edge case data?')));
  });

  test('tree items describe what the engine says', async () => {
    const c = (await w.connection.request(ContainerListRequest.type, {})).find((x) => x.name === 'qa')!;
    const node = containerNode(c, { workspace: true });
    assert.equal(node.label, 'qa');
    assert.match(node.description!, new RegExp(`main · :${c.port} · this workspace`));
    assert.match(node.tooltip, /Driver: blocks/);
    const branches = await w.connection.request(BranchListRequest.type, { container: 'qa' });
    const bookmarks = await w.connection.request(BookmarkListRequest.type, { container: 'qa' });
    const [main] = containerChildren(c, branches, new Set(bookmarks.map((b) => b.branch)), { bookmarks: [], more: false });
    assert.equal(main.contextValue, 'branch.active');
    assert.match(main.description!, /^active · from template employees v1/);
    assert.match(main.tooltip, new RegExp(`port ${c.port}`));
    const [bmNode] = branchChildren({ container: 'qa', branch: 'main' }, { bookmarks, more: false }, w.connection.status?.user);
    assert.equal(bmNode.label, 'after edge case data');
    assert.equal(bmNode.contextValue, 'bookmark.private.mine');
    assert.match(bmNode.description!, /#edge · #qa/);
    const templates = await w.connection.request(TemplateListRequest.type, {});
    assert.equal(templateNode(templates[0]).description, 'v1 · sql');
    assert.equal(templateVersionNodes(templates[0])[0].description?.startsWith('latest · used by'), true);
  });

  test('story 2: share, branch here into another container, switch back through the quick pick', async () => {
    await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('Bug', '1234')`);
    w.ui.answer('Bug 1234 data', '');
    const bug = (await runCommand(w.session, 'slipstream.bookmark.create', { ref: qaRef })).result as BookmarkInfo;
    const share = await runCommand(w.session, 'slipstream.bookmark.share', { ref: { kind: 'bookmark', id: bug.id, name: bug.name, container: 'qa', branch: 'main', template: 'employees', shared: false, mine: true } });
    assert.ok(share.ok, share.error);

    const shared = await w.connection.request(BookmarkListRequest.type, { shared: true });
    assert.deepEqual(sharedGroups({ bookmarks: shared, more: false }).map((g) => g.label), ['employees']);
    const [sharedNode] = sharedChildren('employees', shared, w.connection.status?.user);
    assert.equal(sharedNode.contextValue, 'bookmark.shared.mine');

    // A second container from the same template, then "Branch here" on the shared bookmark.
    w.ui.answer('dev');
    assert.ok((await runCommand(w.session, 'slipstream.provision', { ref: { kind: 'template', template: 'employees' } })).ok);
    await w.workspace.choose('dev');
    const devOwn = await e.checksum('dev');
    w.ui.answer('bug-1234');
    const branched = await runCommand(w.session, 'slipstream.bookmark.branchHere', sharedNode);
    assert.ok(branched.ok, branched.error);
    assert.equal((branched.result as BranchInfo).container, 'dev');
    assert.equal((await w.connection.request(ContainerShowRequest.type, { name: 'dev' })).activeBranch, 'bug-1234');
    assert.equal((await e.sql<{ n: string }>('dev', `SELECT count(*) AS n FROM employees WHERE last_name = '1234'`))[0].n, '1');

    // The status bar's quick pick lists branches and recent bookmarks; picking main switches back.
    const c = await w.connection.request(ContainerShowRequest.type, { name: 'dev' });
    const items = switchItems(c, await w.connection.request(BranchListRequest.type, { container: 'dev' }), shared);
    assert.deepEqual(items.map((i) => i.label), ['$(pass-filled) bug-1234', '$(git-branch) main', '$(bookmark) Bug 1234 data', '$(add) New branch…']);
    w.ui.answer('main');
    const switched = await runCommand(w.session, 'slipstream.switch', undefined);
    assert.equal(switched.result, 'activated');
    assert.deepEqual(await e.checksum('dev'), devOwn, 'the developer has their own data again');
    await eventually(() => w.workspace.snapshot.container?.activeBranch === 'main', 1000, 'the status bar follows within a second');
  });

  test('timeline model from the real event log', async () => {
    const [container, branches, { events }, bookmarks] = await Promise.all([
      w.connection.request(ContainerShowRequest.type, { name: 'dev' }),
      w.connection.request(BranchListRequest.type, { container: 'dev' }),
      w.connection.request(TimelineRequest.type, { container: 'dev' }),
      w.connection.request(BookmarkListRequest.type, {}),
    ]);
    const m = timelineModel({ container, branches, events, bookmarks, user: w.connection.status?.user });
    assert.deepEqual(m.lanes.map((l) => [l.branch, l.active]), [['main', true], ['bug-1234', false]]);
    assert.deepEqual(m.rows.map((r) => r.kind), ['branch-activated', 'branch-activated', 'branch-created', 'container-created']);
    const created = m.rows.find((r) => r.kind === 'branch-created')!;
    assert.equal(created.lane, 1);
    assert.equal(created.title, 'Branch bug-1234 created');
    assert.ok(created.bookmarkId && m.bookmarks[created.bookmarkId].shared, 'the branch points at the shared bookmark');

    const qa = timelineModel({
      container: await w.connection.request(ContainerShowRequest.type, { name: 'qa' }),
      branches: await w.connection.request(BranchListRequest.type, { container: 'qa' }),
      events: (await w.connection.request(TimelineRequest.type, { container: 'qa' })).events,
      bookmarks,
    });
    assert.deepEqual(qa.rows.map((r) => r.title).reverse(),
      ['Container qa created', 'Bookmarked “after edge case data”', 'Restored to “after edge case data”', 'Bookmarked “Bug 1234 data”', 'Shared “Bug 1234 data”']);
  });

  test('create, activate and delete a branch; terminal variables; errors show the engine message only', async () => {
    w.ui.answer('The template', 'fresh', 'Create only');
    const b = await runCommand(w.session, 'slipstream.branch.create', { ref: { kind: 'container', container: 'dev', template: 'employees' } });
    assert.ok(b.ok, b.error);
    assert.equal((b.result as BranchInfo).active, false);
    const fresh: BranchRef = { kind: 'branch', container: 'dev', branch: 'fresh', active: false };
    assert.ok((await runCommand(w.session, 'slipstream.branch.activate', { ref: fresh })).ok);
    assert.equal((await w.connection.request(ContainerShowRequest.type, { name: 'dev' })).activeBranch, 'fresh');

    // The active branch cannot be deleted: the engine says why, and the user reads exactly that.
    w.ui.answer(true);
    const refused = await runCommand(w.session, 'slipstream.branch.delete', { ref: { ...fresh, active: true } });
    assert.equal(refused.ok, false);
    assert.ok(refused.error && !/\n\s+at /.test(refused.error), 'no stack trace');
    assert.equal(w.ui.errors.at(-1), refused.error);

    w.ui.answer('-bad name', '');
    const bad = await runCommand(w.session, 'slipstream.bookmark.create', { ref: qaRef });
    assert.equal(bad.ok, false);
    assert.match(w.ui.errors.at(-1) ?? '', /invalid bookmark name "-bad name"/);

    await runCommand(w.session, 'slipstream.container.openTerminal', { ref: { kind: 'container', container: 'dev', template: 'employees' } });
    const env = w.ui.terminals.at(-1)!.env;
    assert.match(env.DATABASE_URL, /^postgres(ql)?:\/\//);
    assert.equal(env.PGPORT, String((await w.connection.request(ContainerShowRequest.type, { name: 'dev' })).port));
    assert.equal((await runCommand(w.session, 'slipstream.container.copyUrl', { ref: { kind: 'container', container: 'dev', template: 'employees' } })).result, env.DATABASE_URL);
  });

  test('slipstream.json: a teammate gets the template and container with one click', async () => {
    const config = { template: 'shop', source: { kind: 'sql' as const, files: [path.join(FIXTURES, 'employees.sql')] }, container: 'shop-dev' };
    assert.equal(await setupNeed(w.connection, config), 'template-and-container');
    await setupWorkspace(w.session, config);
    assert.equal(await setupNeed(w.connection, config), 'ready');
    await eventually(() => w.workspace.snapshot.container?.name === 'shop-dev', 2000, 'workspace container shop-dev');
  });
});

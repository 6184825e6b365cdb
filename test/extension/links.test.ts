import assert from 'node:assert/strict';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { runCommand } from '../../extension/commands';
import { describeBookmark, type OpenedLink, type SharedLink } from '../../extension/commands/links';
import type { BookmarkRef } from '../../extension/model/refs';
import { buildBookmarkLink, bookmarkMarkdown } from '../../server/common/links';
import type { BookmarkInfo, BranchInfo, ContainerInfo } from '../../server/protocol';
import { FIXTURES } from '../support/engine';
import { freePort, Remote, startTeamEngine, type TeamEngine } from '../support/team';
import { eventually, Window } from './harness';

/**
 * Story 5 against a real team engine over TCP, with two users: qa shares a
 * bookmark link from its window, dev opens it in another. Bad links, private
 * bookmarks and unreachable engines are refused with a message, and nothing
 * changes. Every token lives only in the windows' secret stores.
 */
describe('bookmark links between two users of a team engine', () => {
  let t: TeamEngine;
  let qa: Window;
  let dev: Window;
  let qaCli: Remote;
  let devCli: Remote;
  let devToken: string;
  let shared: SharedLink;
  const link = (id: string, engine = t.url) => buildBookmarkLink({ scheme: 'vscode', extensionId: 'slipstream.slipstream', engine, bookmarkId: id });
  const devState = () => JSON.stringify({
    containers: devCli.ok<ContainerInfo[]>('container', 'list').map((c) => [c.name, c.activeBranch]),
    branches: devCli.ok<ContainerInfo[]>('container', 'list').map((c) => devCli.ok<BranchInfo[]>('branch', 'list', '--container', c.name).map((b) => b.name)),
  });

  before(async () => {
    t = await startTeamEngine();
    const admin = new Remote(t.e, t.url, t.adminToken);
    admin.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    const qaToken = admin.ok<{ token: string }>('user', 'add', 'qa').token;
    devToken = admin.ok<{ token: string }>('user', 'add', 'dev').token;
    qaCli = new Remote(t.e, t.url, qaToken);
    devCli = new Remote(t.e, t.url, devToken);
    qa = new Window({ url: t.url, token: qaToken });
    assert.equal(await qa.connection.connect(), true, qa.log.join('\n'));
    assert.equal(qa.connection.status?.user, 'qa');
  });
  after(async () => {
    qa?.dispose();
    dev?.dispose();
    await t?.e.destroy();
  });

  test('a team engine without a token, or with a wrong one, is a clear disconnected state; the right one connects over TCP', async () => {
    const w = new Window({ url: t.url });
    assert.equal(await w.connection.connect(), false);
    assert.match(w.connection.state.kind === 'disconnected' ? w.connection.state.reason : '', /no token for the team engine at tcp:\/\/127\.0\.0\.1:\d+: run "Slipstream: Set Engine Token…"/);
    w.tokens.set(t.url, 'slp_wrong');
    assert.equal(await w.connection.reconnect(), false);
    assert.match(w.connection.state.kind === 'disconnected' ? w.connection.state.reason : '', /refused the token/);
    w.tokens.set(t.url, devToken);
    assert.equal(await w.connection.reconnect(), true);
    assert.equal(w.connection.status?.user, 'dev');
    assert.ok(!w.log.join('\n').includes(devToken), 'the token never reaches the log');
    w.dispose();
  });

  test('qa shares a bookmark link: the bookmark is shared, the link and the Markdown line are copied', async () => {
    qa.ui.answer('qa');
    const made = await runCommand(qa.session, 'slipstream.provision', { ref: { kind: 'template', template: 'employees' } });
    assert.ok(made.ok, made.error);
    await qaCli.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('Bug', '1234'), ('-1', 'deleted')`);
    qa.session.gitContext = async () => ({ branch: 'bug/1234', commit: '0123456789abcdef0123456789abcdef01234567', remote: 'https://example.com/shop.git' });
    qa.ui.answer('Bug 1234 data', 'bug-1234');
    const bm = (await runCommand(qa.session, 'slipstream.bookmark.create', { ref: { kind: 'container', container: 'qa', template: 'employees' } })).result as BookmarkInfo;
    assert.equal(bm.shared, false);
    const ref: BookmarkRef = { kind: 'bookmark', id: bm.id, name: bm.name, container: 'qa', branch: 'main', template: 'employees', shared: false, mine: true };

    qa.ui.answer('Copy Markdown');
    const out = await runCommand(qa.session, 'slipstream.bookmark.shareLink', { ref });
    assert.ok(out.ok, out.error);
    shared = out.result as SharedLink;
    assert.equal(shared.bookmark.shared, true, 'a link to a private bookmark would open for nobody');
    assert.equal(shared.link, `vscode://slipstream.slipstream/bookmark?engine=${encodeURIComponent(t.url)}&id=${bm.id}`);
    assert.equal(shared.markdown, bookmarkMarkdown('Bug 1234 data', shared.link));
    await eventually(() => qa.ui.copied.length === 2, 3000, 'the Markdown copy');
    assert.deepEqual(qa.ui.copied, [shared.link, shared.markdown]);
    assert.ok(!shared.link.includes('slp_'), 'no token in a link');
    assert.deepEqual(qa.ui.errors, []);
  });

  test('dev opens the link: sees the bookmark, provisions a container, gets a branch with qa\'s rows; qa is untouched', async () => {
    dev = new Window({ url: t.url, token: devToken });
    assert.equal(await dev.connection.connect(), true);
    const qaBefore = await qaCli.checksum('qa');
    dev.ui.answer('Branch and Activate', 'Provision Container', 'dev', 'Check Out Commit');
    const out = await runCommand(dev.session, 'slipstream.bookmark.openLink', shared.link);
    assert.ok(out.ok, out.error);
    const opened = out.result as OpenedLink;
    assert.equal(opened.container, 'dev');
    assert.equal(opened.branch.name, 'Bug 1234 data');
    assert.equal(opened.branch.active, true);
    const question = dev.ui.asked.find((q) => q.startsWith('choose: Open bookmark'))!;
    assert.equal(question, 'choose: Open bookmark "Bug 1234 data" by qa? [Branch and Activate]');
    assert.ok(dev.ui.asked.some((q) => q.startsWith('choose: Bookmark Bug 1234 data was taken on git branch bug/1234, commit 0123456')), dev.ui.asked.join('\n'));
    assert.equal(dev.session.workspaceContainer(), 'dev');
    await eventually(() => dev.checkedOut.length === 1, 3000, 'the commit checkout');
    assert.deepEqual(dev.checkedOut, ['0123456789abcdef0123456789abcdef01234567']);

    assert.equal((await devCli.sql<{ n: string }>('dev', `SELECT count(*) AS n FROM employees WHERE last_name IN ('1234', 'deleted')`))[0].n, '2');
    await devCli.sql('dev', `DELETE FROM employees`);
    assert.equal(await qaCli.checksum('qa'), qaBefore, 'what dev changes, qa never sees');
    assert.deepEqual(dev.ui.errors, []);

    // Opened again (a second click): a new branch beside the first, nothing overwritten.
    dev.ui.answer('Branch and Activate');
    const again = await runCommand(dev.session, 'slipstream.bookmark.openLink', shared.link);
    assert.equal((again.result as OpenedLink).branch.name, 'Bug 1234 data-2');
  });

  test('the confirmation shows name, owner, note, tags, git branch and commit, created', async () => {
    const text = describeBookmark({ ...shared.bookmark, note: 'crashes the totals page' });
    for (const part of ['Owner: qa', 'Note: crashes the totals page', 'Tags: bug-1234', 'Git: bug/1234 @ 0123456789ab', `Created: ${shared.bookmark.createdAt}`]) {
      assert.ok(text.includes(part), `${part} in\n${text}`);
    }
  });

  test('declining the confirmation changes nothing', async () => {
    const before = devState();
    dev.ui.answer(undefined);
    const out = await runCommand(dev.session, 'slipstream.bookmark.openLink', shared.link);
    assert.equal(out.result, undefined);
    assert.equal(devState(), before);
  });

  test('a private bookmark, an unknown id, a malformed link, another machine\'s local engine: refused, nothing changed', async () => {
    await qaCli.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('Private', 'row')`);
    const secret = qaCli.ok<BookmarkInfo>('bookmark', 'create', 'qa only', '--container', 'qa');
    const before = devState();
    const cases: Array<[string, RegExp]> = [
      [link(secret.id), /Bookmark bm_[0-9a-f]{12} was not found on tcp:\/\/127\.0\.0\.1:\d+: it was deleted, or it is private \(its owner must share it first\)\. Nothing was changed\./],
      ['bm_000000000000', /was not found .* Nothing was changed\./],
      ['not a link', /^Not a bookmark link: "not a link" is neither a bookmark link nor a bookmark id .* Nothing was changed\.$/],
      ['vscode://slipstream.slipstream/bookmark?engine=tcp%3A%2F%2Fu%3Ap%40h%3A1&id=bm_000000000000', /Not a bookmark link/],
      ['vscode://slipstream.slipstream/elsewhere?id=bm_000000000000', /not a Slipstream bookmark link/],
      [link(shared.bookmark.id, 'eng_0123456789ab'), /This link is for the local engine eng_0123456789ab, not the engine this window uses \(tcp:\/\/127\.0\.0\.1:\d+\)\. If that engine runs on this machine, .*Nothing was changed\./],
      [`vscode://slipstream.slipstream/bookmark?engine=${encodeURIComponent(`tcp://dev:${devToken}@127.0.0.1:1`)}&id=${shared.bookmark.id}`, /Not a bookmark link: .*is not an engine/],
    ];
    for (const [text, why] of cases) {
      const asked = dev.ui.asked.length;
      const out = await runCommand(dev.session, 'slipstream.bookmark.openLink', text);
      assert.equal(out.ok, false, text);
      assert.match(out.error ?? '', why);
      assert.equal(dev.ui.asked.length, asked, `no question before refusing ${text}`);
    }
    assert.equal(dev.ui.errors.length, cases.length);
    assert.ok(!dev.ui.errors.join('\n').includes(devToken.slice(4)), 'no error echoes the token in a link');
    assert.equal(devState(), before);
  });

  test('a link to another team engine offers to connect; a wrong token or an unreachable engine changes nothing', async () => {
    const port = await freePort();
    const w = new Window({ url: `tcp://127.0.0.1:${port}` }); // a window on an engine that is not there
    const before = devState();
    w.ui.answer('Connect', 'slp_wrong');
    let out = await runCommand(w.session, 'slipstream.bookmark.openLink', shared.link);
    assert.match(out.error ?? '', /Could not connect to the team engine at tcp:\/\/127\.0\.0\.1:\d+: .*Nothing was changed\./);
    assert.deepEqual([w.setting, w.tokens.size, w.connection.target], [undefined, 0, { kind: 'remote', url: `tcp://127.0.0.1:${port}` }]);

    const gone = `tcp://127.0.0.1:${await freePort()}`;
    w.ui.answer('Connect', devToken);
    out = await runCommand(w.session, 'slipstream.bookmark.openLink', link(shared.bookmark.id, gone));
    assert.match(out.error ?? '', new RegExp(`Could not connect to the team engine at ${gone}: no engine answers.*Nothing was changed`));
    assert.equal(w.tokens.size, 0);

    w.ui.answer('Connect', devToken, 'Branch and Activate');
    out = await runCommand(w.session, 'slipstream.bookmark.openLink', shared.link);
    assert.ok(out.ok, out.error);
    assert.equal((out.result as OpenedLink).branch.name, 'Bug 1234 data-3');
    assert.equal(w.setting, t.url, 'the window now uses the team engine');
    assert.equal(w.tokens.get(t.url), devToken, 'and keeps the token in its secret store');
    assert.equal(w.connection.status?.user, 'dev');
    assert.notEqual(devState(), before);
    w.dispose();
  });

  test('a link naming this very engine by its id (made on the engine host) opens here; it is not "another machine\'s"', async () => {
    const engineId = dev.connection.status!.engineId;
    dev.ui.answer('Branch and Activate');
    const out = await runCommand(dev.session, 'slipstream.bookmark.openLink', link(shared.bookmark.id, engineId));
    assert.ok(out.ok, out.error);
    assert.match((out.result as OpenedLink).branch.name, /^Bug 1234 data-\d$/);
  });
});

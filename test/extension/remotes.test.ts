import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCommand } from '../../extension/commands';
import type { OpenedLink } from '../../extension/commands/links';
import type { BookmarkRef } from '../../extension/model/refs';
import type { BookmarkInfo, TransferInfo } from '../../server/protocol';
import { FIXTURES, TestEngine } from '../support/engine';
import { BUCKET, S3_ENV, S3Server } from '../support/s3server';
import { Window } from './harness';

/**
 * Issue 15 in the extension: QA pushes a bookmark from its window on one engine; a reviewer's
 * window on another engine opens a link that names the remote, and pulls a bookmark from the
 * palette. Real engines and a real S3 server (s3rver); the windows' Ui is scripted.
 */
describe('bookmarks through a remote, from VS Code', () => {
  let s3: S3Server;
  let qaEngine: TestEngine;
  let laptop: TestEngine;
  let qa: Window;
  let reviewer: Window;
  let bm: BookmarkInfo;

  const start = (): TestEngine => {
    const e = new TestEngine(fs.mkdtempSync(path.join(os.tmpdir(), 'slip-home-')));
    assert.equal(e.cliWith(S3_ENV, 'engine', 'start', '--driver', 'blocks').code, 0);
    e.ok('remote', 'add', 'team', `s3://${BUCKET}/ext`, '--endpoint', s3.endpoint);
    return e;
  };

  before(async () => {
    s3 = await S3Server.start();
    qaEngine = start();
    laptop = start();
    qaEngine.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    qaEngine.ok('container', 'create', 'qa', '--template', 'employees');
    await qaEngine.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('Bug', '1234')`);
    bm = qaEngine.ok<BookmarkInfo>('bookmark', 'create', 'Bug 1234 data', '--container', 'qa', '--note', 'orders vanish');
    qa = new Window(qaEngine.home);
    reviewer = new Window(laptop.home);
    assert.equal(await qa.connection.connect(), true, qa.log.join('\n'));
    assert.equal(await reviewer.connection.connect(), true, reviewer.log.join('\n'));
  });
  after(async () => {
    qa?.dispose();
    reviewer?.dispose();
    await qaEngine?.destroy();
    await laptop?.destroy();
    await s3?.stop();
    if (s3) fs.rmSync(s3.dir, { recursive: true, force: true });
  });

  test('Push Bookmark to Remote shows the engine\'s progress, in bytes and time left', async () => {
    const ref: BookmarkRef = { kind: 'bookmark', id: bm.id, name: bm.name, container: 'qa', branch: 'main', template: 'employees', shared: false, mine: true };
    const out = await runCommand(qa.session, 'slipstream.bookmark.push', { ref });
    assert.ok(out.ok, out.error);
    const t = out.result as TransferInfo;
    assert.ok(t.chunksMoved > 0 && t.templateMoved);
    assert.match(qa.ui.infos.at(-1) ?? '', /^Pushed bookmark Bug 1234 data to team: \d+ of \d+ chunks sent \(.* MB\), with its template version/);
    const reports = qa.ui.progress.find((p) => p.title === 'Pushing Bug 1234 data to team')?.reports ?? [];
    assert.ok(reports.some((r) => r.kind === 'report' && /pushing .*: .* MB of .* MB/.test(r.message ?? '')), JSON.stringify(reports));
  });

  test('the reviewer opens a link that names the remote: asked first, pulled, a container provisioned, the branch active', async () => {
    const { link } = qaEngine.ok<{ link: string }>('bookmark', 'link', bm.id, '--remote', 'team');
    reviewer.ui.answer('Branch and Activate', 'Provision Container', 'review');
    const out = await runCommand(reviewer.session, 'slipstream.bookmark.openLink', link);
    assert.ok(out.ok, out.error);
    const opened = out.result as OpenedLink;
    assert.equal(opened.container, 'review');
    assert.equal(opened.branch.active, true);
    assert.equal(opened.bookmark.pulled?.remote, 'team');
    assert.ok(reviewer.ui.progress.some((p) => p.title === 'Pulling Bug 1234 data from team'));
    assert.deepEqual(await laptop.checksum('review'), await qaEngine.checksum('qa'));
  });

  test('a link to a remote this engine does not know says which remote add to run, and changes nothing', async () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-home-'));
    const e = new TestEngine(other);
    assert.equal(e.cliWith(S3_ENV, 'engine', 'start', '--driver', 'blocks').code, 0);
    const w = new Window(other);
    try {
      assert.equal(await w.connection.connect(), true);
      const { link } = qaEngine.ok<{ link: string }>('bookmark', 'link', bm.id, '--remote', 'team');
      const out = await runCommand(w.session, 'slipstream.bookmark.openLink', link);
      assert.equal(out.ok, false);
      assert.match(out.error ?? '', /which this engine does not know\. Add it, .*slipstream remote add NAME s3:\/\/slipstream-test\/ext\/ --endpoint http:\/\/127\.0\.0\.1:\d+\. Nothing was changed\./);
      assert.deepEqual(e.ok<BookmarkInfo[]>('bookmark', 'list'), []);
    } finally {
      w.dispose();
      await e.destroy();
    }
  });

  test('Pull Bookmark from Remote lists what the remote holds; one already here moves nothing', async () => {
    reviewer.ui.answer('Bug 1234 data');
    const out = await runCommand(reviewer.session, 'slipstream.bookmark.pull', undefined);
    assert.ok(out.ok, out.error);
    assert.equal((out.result as TransferInfo).chunksMoved, 0);
    assert.match(reviewer.ui.infos.at(-1) ?? '', /^Pulled bookmark Bug 1234 data from team: 0 of/);
  });
});

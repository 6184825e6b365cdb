import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, describe, test } from 'node:test';
import { ClientError } from '../../server/common/client';
import { ContainerListRequest, TemplateListRequest, type ChangedParams } from '../../server/protocol';
import type { ConnectionState } from '../../extension/engine/connection';
import { TestEngine } from '../support/engine';
import { eventually, Window } from './harness';

/**
 * The extension's engine connection against a real engine: it starts one when
 * none answers, several windows share it, and it reconnects by itself after an
 * engine restart.
 */
describe('engine connection', () => {
  const homes: string[] = [];
  const windows: Window[] = [];
  after(async () => {
    for (const w of windows) w.dispose();
    for (const home of homes) {
      await new TestEngine(home).destroy();
    }
  });

  test('with no engine and no permission to start one, requests fail with a clear message', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-ext-'));
    homes.push(home);
    const w = new Window(home);
    windows.push(w);
    assert.equal(await w.connection.connect(), false);
    assert.equal(w.connection.state.kind, 'disconnected');
    const err = await w.connection.request(TemplateListRequest.type, {}).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, 'EngineNotRunning');
    assert.match(err.message, /not connected to its engine/);
    assert.doesNotMatch(err.message, /\n\s+at /, 'no stack trace');
  });

  test('starts a local engine, shares it with a second window, and reconnects after a restart', async (t) => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-ext-'));
    homes.push(home);
    const a = new Window(home, { canStart: true });
    const b = new Window(home, { canStart: true });
    windows.push(a, b);
    const states: ConnectionState['kind'][] = [];
    a.connection.onDidChangeState((s) => states.push(s.kind));

    const t0 = Date.now();
    assert.equal(await a.connection.connect({ allowStart: true }), true);
    const startMs = Date.now() - t0;
    assert.deepEqual(states, ['connecting', 'starting', 'connected']);
    assert.equal(a.connection.status?.home, fs.realpathSync(home));
    assert.ok(a.log.some((l) => l.includes('starting one')), 'the log says it started the engine');

    // A second window finds the running engine instead of starting another.
    assert.equal(await b.connection.connect({ allowStart: true }), true);
    assert.equal(b.connection.status?.pid, a.connection.status?.pid);

    // Both windows hear about a change made elsewhere (here: the CLI).
    const heardA: ChangedParams[] = [];
    const heardB: ChangedParams[] = [];
    a.connection.onChanged((p) => heardA.push(p));
    b.connection.onChanged((p) => heardB.push(p));
    new TestEngine(home).ok('template', 'create', 'empty1', '--empty');
    await eventually(() => heardA.some((p) => p.what === 'template') && heardB.some((p) => p.what === 'template'), 5000, 'change notifications');

    // Restart the engine behind the windows' backs: they notice, then reconnect by themselves.
    const pid = a.connection.status!.pid;
    new TestEngine(home).ok('engine', 'stop');
    await eventually(() => a.connection.state.kind === 'disconnected', 5000, 'disconnected state');
    const down = await a.connection.request(ContainerListRequest.type, {}).then(() => undefined, (e: unknown) => e);
    assert.ok(down instanceof ClientError && down.code === 'EngineNotRunning', 'requests fail clearly while the engine is down');
    const t1 = Date.now();
    new TestEngine(home).ok('engine', 'start', '--driver', 'blocks');
    await eventually(() => a.connection.state.kind === 'connected' && b.connection.state.kind === 'connected', 10000, 'reconnect');
    const reconnectMs = Date.now() - t1;
    assert.notEqual(a.connection.status!.pid, pid);
    assert.deepEqual((await a.connection.request(TemplateListRequest.type, {})).map((t) => t.name), ['empty1']);
    t.diagnostic(`engine auto-start took ${startMs} ms; reconnect after a restart took ${reconnectMs} ms (incl. engine start)`);
  });
});

/**
 * The walkthrough's context keys against a real engine: every step is done
 * from a terminal (the real CLI), and the keys the extension would set follow
 * what the engine reports, as a walkthrough step completes on them.
 */
import assert from 'node:assert/strict';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { FirstSteps, firstStepsFrom, type FirstStepFacts } from '../../extension/firstSteps';
import { contextKeyValues, type ContextKey } from '../../extension/model/contextKeys';
import type { EngineFeed } from '../../extension/workspace';
import type { BookmarkInfo, TimelineEvent } from '../../server/protocol';
import { FIXTURES, TestEngine } from '../support/engine';
import { eventually, Window } from './harness';

test('first steps from bookmarks and timelines: only the user\'s own count', () => {
  const bm = (owner: string, shared: boolean) => ({ owner, shared }) as BookmarkInfo;
  const ev = (user: string, kind: TimelineEvent['kind']) => ({ user, kind }) as TimelineEvent;
  const none: FirstStepFacts = { bookmarked: false, restored: false, sharedBookmark: false };
  assert.deepEqual(firstStepsFrom('qa', [], []), none);
  assert.deepEqual(firstStepsFrom('qa', [bm('dev', true)], [ev('dev', 'restored')]), none, 'a teammate\'s shared bookmark and restore');
  assert.deepEqual(firstStepsFrom('qa', [bm('qa', false)], []), { ...none, bookmarked: true });
  assert.deepEqual(firstStepsFrom('qa', [], [ev('qa', 'bookmark-created'), ev('qa', 'restored')]), { ...none, bookmarked: true, restored: true },
    'a bookmark deleted since still counts');
  assert.deepEqual(firstStepsFrom('qa', [bm('qa', true)], []), { bookmarked: true, restored: false, sharedBookmark: true });
  assert.deepEqual(firstStepsFrom('qa', [], [ev('qa', 'bookmark-shared')]).sharedBookmark, true);
});

describe('the walkthrough\'s keys follow the engine, for steps done from a terminal', () => {
  let e: TestEngine;
  let w: Window;
  let steps: FirstSteps;
  let requests = 0;

  before(async () => {
    e = await TestEngine.start();
    w = new Window(e.home);
    assert.equal(await w.connection.connect(), true);
    // The connection, counting what FirstSteps asks of the engine.
    const c = w.connection;
    const feed: EngineFeed = {
      get state() { return c.state; },
      onDidChangeState: c.onDidChangeState,
      onChanged: c.onChanged,
      request: (type, params, opts) => { requests++; return c.request(type, params, opts); },
    };
    steps = new FirstSteps(feed);
    await steps.reload();
  });
  after(async () => {
    steps?.dispose();
    w?.dispose();
    await e?.destroy();
  });

  const keys = () => contextKeyValues(w.connection.state, w.connection.target, w.workspace.snapshot, steps.facts);
  const until = (key: ContextKey, what: string) => eventually(() => keys()[key] === true, 10_000, what);

  test('each step done with the CLI turns its key on; none turns on early', async () => {
    assert.equal(keys()['slipstream.state'], 'connected', 'step 1: the engine answers');
    for (const key of ['slipstream.hasTemplates', 'slipstream.hasContainers', 'slipstream.hasBookmarked', 'slipstream.hasRestored', 'slipstream.hasSharedBookmark'] as const) {
      assert.equal(keys()[key], false, key);
    }

    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    await until('slipstream.hasTemplates', 'step 2: a template');
    e.ok('container', 'create', 'dev', '--template', 'employees');
    await until('slipstream.hasContainers', 'step 3: a container');
    assert.equal(keys()['slipstream.hasBookmarked'], false);

    e.ok('bookmark', 'create', 'before tests', '--container', 'dev');
    await until('slipstream.hasBookmarked', 'step 4: a bookmark');
    assert.equal(keys()['slipstream.hasRestored'], false);
    assert.equal(keys()['slipstream.hasSharedBookmark'], false, 'a bookmark is private until shared');

    await e.sql('dev', 'DELETE FROM employees');
    e.ok('restore', 'before tests', '--container', 'dev');
    await until('slipstream.hasRestored', 'step 5: a restore');
    assert.equal(keys()['slipstream.hasSharedBookmark'], false);

    const link = e.ok<{ link: string }>('bookmark', 'link', 'before tests', '--container', 'dev');
    assert.match(link.link, /bookmark\?/);
    await until('slipstream.hasSharedBookmark', 'step 6: a shared bookmark link');
  });

  test('once every step is seen, the keys stay on and the engine is not asked again', async () => {
    const asked = requests;
    e.ok('bookmark', 'delete', 'before tests', '--container', 'dev');
    await steps.reload();
    await new Promise((r) => setTimeout(r, 300)); // past the debounce of the change notification
    assert.deepEqual(steps.facts, { bookmarked: true, restored: true, sharedBookmark: true });
    assert.equal(requests, asked);
  });
});

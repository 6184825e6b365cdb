import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import { after, before, test } from 'node:test';
import { connectEngine, type EngineClient } from '../../server/common/client';
import { BookmarkTagRequest, TimelineRequest, type TimelineEvent, type TimelinePage } from '../../server/protocol';
import { CLI, TestEngine } from '../support/engine';

/** The timeline a page at a time (issue 14, "Pages everywhere"): `limit` and the `before`
 *  cursor, through the engine's protocol and the real CLI. */
let e: TestEngine;
let client: EngineClient;

before(async () => {
  e = await TestEngine.start();
  e.ok('template', 'create', 'empty', '--empty');
  e.ok('container', 'create', 'qa', '--template', 'empty');
  e.ok('container', 'create', 'dev', '--template', 'empty');
  e.ok('bookmark', 'create', 'base', '--container', 'qa');
  client = await connectEngine({ home: e.home });
  await tag(120); // events without any database work: 122 in all
});
after(async () => {
  await client?.close();
  await e?.destroy();
});

let tags = 0;
async function tag(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await client.request(BookmarkTagRequest.type, { bookmark: 'base', container: 'qa', add: [`t${tags++}`] });
}

const seqs = (events: readonly TimelineEvent[]) => events.map((ev) => ev.seq);

/** Every page from the newest on, `limit` a page; `between` runs after each page. */
async function allPages(limit: number, between: () => Promise<void> = async () => undefined): Promise<TimelinePage[]> {
  const pages = [await client.request(TimelineRequest.type, { container: 'qa', limit })];
  for (let cursor = pages[0].before; cursor !== undefined; cursor = pages[pages.length - 1].before) {
    await between();
    pages.push(await client.request(TimelineRequest.type, { container: 'qa', limit, before: cursor }));
  }
  return pages;
}

test('paging through 122 events, 7 a page: every event once, newest first, and no cursor on the last page', async () => {
  const whole = await client.request(TimelineRequest.type, { container: 'qa' });
  assert.equal(whole.events.length, 122);
  assert.equal(whole.before, undefined, 'all of them fit the default page: nothing older is left');
  assert.deepEqual(seqs(whole.events), Array.from({ length: 122 }, (_, i) => 122 - i), 'newest first, seq 122 down to 1');

  const pages = await allPages(7);
  assert.equal(pages.length, Math.ceil(122 / 7));
  assert.deepEqual(seqs(pages.flatMap((p) => p.events)), seqs(whole.events), 'the pages, one after another, are the whole timeline');
  for (const [i, p] of pages.entries()) {
    const last = i === pages.length - 1;
    assert.equal(p.events.length, last ? 122 % 7 : 7);
    assert.equal(p.before, last ? undefined : p.events[p.events.length - 1].seq, `page ${i}: its cursor is its oldest event`);
  }
  assert.equal(pages[pages.length - 1].events.at(-1)?.kind, 'container-created');

  // A page that ends exactly at the oldest event says so too.
  const exact = await client.request(TimelineRequest.type, { container: 'qa', limit: 2, before: 3 });
  assert.deepEqual([seqs(exact.events), exact.before], [[2, 1], undefined]);
});

test('events appended while paging show up on the next first page, never in the older pages', async () => {
  const newestBefore = (await client.request(TimelineRequest.type, { container: 'qa', limit: 1 })).events[0].seq;
  const pages = await allPages(25, () => tag(3));
  const seen = seqs(pages.flatMap((p) => p.events));
  assert.deepEqual(seen, Array.from({ length: newestBefore }, (_, i) => newestBefore - i), 'each event once, in order, none of the new ones');
  const first = await client.request(TimelineRequest.type, { container: 'qa', limit: 1 });
  assert.equal(first.events[0].seq, newestBefore + 3 * (pages.length - 1), 'the new ones are at the top');
});

test('a bad cursor or limit is refused with a clear error, and nothing changes', async () => {
  // The events, and the cursor: the restorable ranges end "now", which moves.
  const page = () => { const { restorable: _now, ...rest } = e.ok<TimelinePage>('timeline', '--container', 'qa'); return JSON.stringify(rest); };
  const before0 = page();
  const newest = JSON.parse(before0).events[0].seq as number;
  const refused = e.fails('InvalidArgument', 'timeline', '--container', 'qa', '--before', String(newest + 1000));
  assert.equal(refused.message,
    `--before ${newest + 1000}: container "qa" has no event ${newest + 1000}. Pass the "before" of the previous page, or leave it out for the newest events.`);
  // A cursor from another container's timeline: dev has only its own few events.
  assert.match(e.fails('InvalidArgument', 'timeline', '--container', 'dev', '--before', '50').message, /container "dev" has no event 50/);
  for (const bad of [0, -1, 2.5, '7', null, true] as const) {
    const answer = await client.request(TimelineRequest.type, { container: 'qa', before: bad as unknown as number }).then(
      (page) => page.before ?? 'ok', (err: { code?: string; message: string }) => `${err.code}: ${err.message}`);
    if (bad === null) assert.equal(answer, 'ok', 'null means no cursor, as for every optional param');
    else assert.equal(answer, `InvalidArgument: "before" must be a whole number from 1 to ${Number.MAX_SAFE_INTEGER}.`, `before: ${JSON.stringify(bad)}`);
  }
  const usage = e.cli('timeline', '--container', 'qa', '--before', 'newest');
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /timeline: --before must be an integer from 1 to \d+, not 'newest'/);
  assert.equal(page(), before0, 'the timeline is as it was');
});

test('the CLI pages with --limit and --before: --json gives the cursor, the table ends with the next command', () => {
  const first = e.ok<TimelinePage>('timeline', '--container', 'qa', '--limit', '5');
  assert.equal(first.events.length, 5);
  assert.equal(first.before, first.events[4].seq);
  const second = e.ok<TimelinePage>('timeline', '--container', 'qa', '--limit', '5', '--before', String(first.before));
  assert.deepEqual(seqs(second.events), seqs(first.events).map((s) => s - 5));

  const human = spawnSync(process.execPath, [CLI, '--home', e.home, 'timeline', '--container', 'qa', '--limit', '5'], { encoding: 'utf8' });
  assert.equal(human.status, 0, human.stderr);
  const lines = human.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^SEQ\s+TIME\s+USER\s+EVENT/);
  assert.equal(lines.length, 1 + 5 + 1);
  assert.equal(lines[lines.length - 1], `Older events: slipstream timeline --container qa --limit 5 --before ${first.before}`);
  const oldest = spawnSync(process.execPath, [CLI, '--home', e.home, 'timeline', '--container', 'qa', '--before', '3'], { encoding: 'utf8' });
  assert.equal(oldest.stdout.trimEnd().split('\n').length, 1 + 2, 'the last page names no next one');
});

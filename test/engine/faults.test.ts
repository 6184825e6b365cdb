import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, test } from 'node:test';
import { Client } from 'pg';
import type { BookmarkInfo, BranchInfo, ContainerInfo, EngineStatus, TemplateInfo } from '../../server/protocol';
import { FIXTURES, TestEngine } from '../support/engine';


/**
 * kill -9 at EVERY fault point the engine has. The list comes from the text of
 * server/engine/faults.ts (the FaultPoint type), so a new point without a
 * scenario here fails this test. After each crash a normal start must give:
 * every completed bookmark still listed and restoring to the data it had; the
 * half-made thing never shows; every branch of every container opens in
 * PostgreSQL; every database that ran runs again, on its port.
 */
const FAULTS_TS = path.resolve(__dirname, '../../../server/engine/faults.ts');

export function faultPointsFromSource(text: string): string[] {
  const type = /export type FaultPoint\s*=([^;]+);/.exec(text);
  if (!type) throw new Error(`no FaultPoint type in ${FAULTS_TS}`);
  // Comments go first: an apostrophe in one would pair with the next point's quote.
  return [...type[1].replace(/\/\/[^\n]*/g, '').matchAll(/'([^']+)'/g)].map((m) => m[1]);
}

interface Scenario {
  /** Make what the command needs. */
  setup?: () => Promise<void> | void;
  /** The command that reaches the fault point. */
  args: string[];
  /** What must hold after recovery, besides the common invariants. */
  check: () => Promise<void> | void;
  /** More environment for the engine that dies (e.g. SLIPSTREAM_SPARES=on). */
  env?: Record<string, string>;
  /** The command succeeds, and the engine dies after it, in background work. */
  background?: boolean;
}

let e: TestEngine;
/** Every completed bookmark and the checksum of its data when it was made. */
const bookmarks = new Map<string, { name: string; sum: string }>();
let survived = 0;

const sum = async (container: string) => JSON.stringify(await e.checksum(container));
const count = async (container: string) => Number((await e.sql<{ n: string }>(container, 'SELECT count(*) AS n FROM employees'))[0].n);

/** Spares and dehydrations run in the background: wait until none does. */
async function idle(): Promise<void> {
  for (let i = 0; i < 600 && e.ok<EngineStatus>('engine', 'status').backgroundJobs !== 0; i++) {
    await new Promise((r) => setTimeout(r, 200));
  }
}

const qaBranch = (name: string) => e.ok<BranchInfo[]>('branch', 'list', '--container', 'qa').find((b) => b.name === name);

/** Make `empty` the least recently active branch of qa (main stays active), and remember its
 *  data: it is the next to go cold, and once idle it is captured ahead (ready). */
async function emptyNextToDehydrate(): Promise<void> {
  await idle();
  e.ok('branch', 'activate', 'empty', '--container', 'qa');
  emptySum = await sum('qa');
  e.ok('branch', 'activate', 'main', '--container', 'qa');
  await idle();
}

/** After a dehydration of `empty` was cut short: once idle, `empty` is cold (done before the
 *  crash, or again after it) and comes back with its data. */
async function emptyComesBack(): Promise<void> {
  await idle();
  assert.equal(qaBranch('empty')?.cold, true, 'the least recently active branch is cold');
  e.ok('branch', 'activate', 'empty', '--container', 'qa');
  assert.equal(await sum('qa'), emptySum, 'the cold branch comes back with its data');
  e.ok('branch', 'activate', 'main', '--container', 'qa');
}

/** A bookmark to restore on the clone path: another bookmark follows it, so the branch's reset
 *  point (and its spare, on by default) is not this one and the restore cannot swap a spare in. */
async function bookmarkToClone(name: string): Promise<void> {
  await bookmark(name);
  e.ok('bookmark', 'create', `${name}, moved on`, '--container', 'qa');
}

async function bookmark(name: string, container = 'qa'): Promise<void> {
  const data = await sum(container);
  const bm = e.ok<BookmarkInfo>('bookmark', 'create', name, '--container', container);
  bookmarks.set(bm.id, { name, sum: data });
}

/** Points that need a suite of their own: where the engine dies while it starts, or another driver. */
const TESTED_ELSEWHERE: Record<string, string> = {
  'pool-image:after-make': 'test/engine/poolImage.test.ts',
  'pool-image:after-mount': 'test/engine/poolImage.test.ts',
  // Compaction runs on the reflink driver only, which this suite (on blocks) does not use.
  'compact:before-rename': 'test/engine/compaction.test.ts',
  // A pull needs an S3 server, which that suite starts.
  'bookmark-pull:after-capture': 'test/engine/remotes.test.ts',
};

const scenarios: Record<string, Scenario> = {
  'template-build:after-snapshot': {
    args: ['template', 'create', 'half-template', '--empty'],
    check: () => {
      assert.ok(!e.ok<TemplateInfo[]>('template', 'list').some((t) => t.name === 'half-template'), 'a half-built template never shows');
      e.ok('template', 'create', 'half-template', '--empty');
      e.ok('template', 'delete', 'half-template');
    },
  },
  'container-create:after-clone': {
    args: ['container', 'create', 'half-box', '--template', 'employees'],
    check: () => {
      assert.ok(!e.ok<ContainerInfo[]>('container', 'list').some((c) => c.name === 'half-box'), 'a half-made container never shows');
      e.ok('container', 'create', 'half-box', '--template', 'employees');
      e.ok('container', 'delete', 'half-box');
    },
  },
  'bookmark-create:after-snapshot': {
    setup: () => e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('before', 'half bookmark')`).then(() => undefined),
    args: ['bookmark', 'create', 'half-bookmark', '--container', 'qa'],
    check: async () => {
      assert.ok(!e.ok<BookmarkInfo[]>('bookmark', 'list').some((b) => b.name === 'half-bookmark'), 'a half-made bookmark never shows');
      await bookmark('half-bookmark'); // the name is free again
    },
  },
  'activate:after-stop': {
    setup: async () => {
      e.ok('branch', 'activate', 'main', '--container', 'qa');
      await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('main', 'before switch 1')`);
      mainSum = await sum('qa');
    },
    args: ['branch', 'activate', 'empty', '--container', 'qa'],
    check: async () => {
      const active = e.ok<ContainerInfo>('container', 'show', 'qa').activeBranch;
      assert.equal(active, 'empty', 'once the target is recorded active, the switch finishes');
      assert.equal(await count('qa'), 0);
      e.ok('branch', 'activate', 'main', '--container', 'qa');
      assert.equal(await sum('qa'), mainSum, 'main kept its change');
    },
  },
  'activate:after-start': {
    setup: async () => {
      await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('main', 'before switch 2')`);
      mainSum = await sum('qa');
    },
    args: ['branch', 'activate', 'empty', '--container', 'qa'],
    check: async () => {
      assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').activeBranch, 'empty');
      assert.equal(await count('qa'), 0);
      e.ok('branch', 'activate', 'main', '--container', 'qa');
      assert.equal(await sum('qa'), mainSum, 'main kept its change');
    },
  },
  'checkpoint:after-start': {
    // The switch is answered; then, in the background, the left branch's server runs with no port
    // to write its checkpoint, and the engine dies. That server outlives the engine, as databases
    // do: the next activation of the branch stops it and starts the branch on its port, intact.
    background: true,
    setup: async () => {
      await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('main', 'before the checkpoint behind')`);
      mainSum = await sum('qa');
    },
    args: ['branch', 'activate', 'empty', '--container', 'qa'],
    check: async () => {
      assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').activeBranch, 'empty');
      e.ok('branch', 'activate', 'main', '--container', 'qa');
      assert.equal(await sum('qa'), mainSum, 'main kept every change made before the switch');
    },
  },
  'rewind:after-clone': {
    // The new volume is built and the old database still runs: recovery goes on to the new one.
    setup: async () => {
      await bookmarkToClone('before-rewind');
      rewindTo = await sum('qa');
      await e.sql('qa', 'DELETE FROM employees');
    },
    args: ['restore', 'before-rewind', '--container', 'qa'],
    check: async () => {
      assert.equal(await sum('qa'), rewindTo, 'a restore that built its volume finishes');
      const last = e.ok<{ events: Array<{ kind: string; user: string }> }>('timeline', '--container', 'qa').events[0]; // newest first
      assert.deepEqual([last?.kind, last?.user], ['restored', 'engine (recovery)'], 'the timeline says recovery finished it');
    },
  },
  'rewind:after-commit': {
    // Recorded, the old volume not yet deleted: recovery deletes it (invariants count the volumes).
    setup: async () => {
      rewindTo = await sum('qa');
      await e.sql('qa', `UPDATE employees SET first_name = 'reset me'`);
    },
    args: ['reset', '--container', 'qa'],
    check: async () => {
      assert.equal(await sum('qa'), rewindTo, 'the reset is done');
      const last = e.ok<{ events: Array<{ kind: string; user: string }> }>('timeline', '--container', 'qa').events[0]; // newest first
      assert.equal(last?.kind, 'reset', 'recorded once, before the crash');
    },
  },
  'spare:after-clone': {
    // A spare is built in the background after the bookmark; the engine dies before the branch
    // records it. Recovery deletes the half-made spare (invariants count the volumes).
    env: { SLIPSTREAM_SPARES: 'on' },
    background: true,
    setup: async () => {
      // On blocks a branch gets a spare by default only once restored: first give every active
      // branch its spare, or the engine that dies would build one at its start, before the bookmark.
      e.ok('engine', 'stop');
      assert.equal(e.cliWith({ SLIPSTREAM_SPARES: 'on' }, 'engine', 'start').code, 0);
      await idle();
      spareSum = await sum('qa');
    },
    args: ['bookmark', 'create', 'spare-half', '--container', 'qa'],
    check: () => {
      const bm = e.ok<BookmarkInfo[]>('bookmark', 'list').find((b) => b.name === 'spare-half');
      assert.ok(bm, 'the bookmark the spare was for is kept');
      bookmarks.set(bm.id, { name: 'spare-half', sum: spareSum });
      // The dead engine never recorded it; recovery found the half-made build in the journal. (The
      // invariants count the volumes against the branches and their ready spares, so the
      // half-made one must be gone.)
      const log = fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8');
      assert.match(log, /recovering interrupted spare-build \([^)]*step begin\)/, 'recovery deleted the half-made spare');
    },
  },
  'spare:before-swap': {
    // A restore took the ready spare, and the engine dies before the old database stops:
    // recovery goes on with the spare, without cloning.
    setup: async () => {
      e.ok('engine', 'stop');
      assert.equal(e.cliWith({ SLIPSTREAM_SPARES: 'on' }, 'engine', 'start').code, 0);
      await bookmark('spare-ready');
      spareSum = await sum('qa');
      for (let i = 0; i < 300 && !e.ok<BranchInfo[]>('branch', 'list', '--container', 'qa').some((b) => b.active && b.spareReady); i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      await e.sql('qa', 'DELETE FROM employees');
      swapsBefore = swapsLogged();
    },
    env: { SLIPSTREAM_SPARES: 'on' },
    args: ['restore', 'spare-ready', '--container', 'qa'],
    check: async () => {
      assert.equal(await sum('qa'), spareSum, 'the restore from the spare finishes');
      // Counted from the setup: spares are on by default, so earlier restores may have swapped too.
      assert.equal(swapsLogged() - swapsBefore, 2, 'it took the spare before the crash, and again in recovery');
    },
  },
  'dehydrate:after-capture': {
    // With K = 2 branches materialised, the one a switch leaves is captured ahead, in the
    // background, to go cold or give its volume at once later; the engine dies once the snapshot
    // is taken, before the branch records it. Recovery deletes the snapshot; the restart captures again.
    background: true,
    setup: async () => {
      await emptyNextToDehydrate();
      mainSum = await sum('qa');
    },
    args: ['branch', 'activate', 'empty', '--container', 'qa'],
    check: async () => {
      await idle();
      assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').activeBranch, 'empty', 'the switch was answered before the crash');
      assert.equal(await sum('qa'), emptySum);
      e.ok('branch', 'activate', 'main', '--container', 'qa');
      assert.equal(await sum('qa'), mainSum, 'the branch captured ahead kept its data');
    },
  },
  'dehydrate:after-commit': {
    // An engine started with K = 1 makes `empty` one too many: it goes cold on its ready snapshot
    // (stalled first, so the command below is answered before the crash) and dies once that is
    // recorded, its volume not yet deleted: recovery deletes it (invariants count the volumes).
    background: true,
    env: { SLIPSTREAM_WARM_BRANCHES: '1', SLIPSTREAM_STALL: 'dehydrate:after-capture', SLIPSTREAM_STALL_MS: '3000' },
    setup: emptyNextToDehydrate,
    args: ['branch', 'list', '--container', 'qa'],
    check: () => emptyComesBack(),
  },
  'materialise:after-clone': {
    // A cold branch is being written into the volume of a ready branch the activation makes one
    // too many (that branch is cold from then on), nothing stopped yet: recovery deletes the
    // volume; both branches are cold, the old one active; each comes back with its data.
    setup: async () => {
      await idle();
      e.ok('branch', 'create', 'thawed', '--container', 'qa', '--from-template', '--activate');
      await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('thawed', 'only here')`);
      thawedSum = await sum('qa');
      e.ok('branch', 'activate', 'main', '--container', 'qa');
      await idle(); // thawed, left, is captured ahead: the next branch takes its volume
      e.ok('branch', 'create', 'pusher', '--container', 'qa', '--from-template', '--activate');
      await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('pusher', 'only here')`);
      pusherSum = await sum('qa');
      e.ok('branch', 'activate', 'main', '--container', 'qa');
      await idle();
      assert.equal(qaBranch('thawed')?.cold, true, 'thawed is cold before the activation');
    },
    args: ['branch', 'activate', 'thawed', '--container', 'qa'],
    check: async () => {
      assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').activeBranch, 'main', 'the switch never happened');
      assert.equal(qaBranch('thawed')?.cold, true, 'the branch is still cold');
      assert.equal(qaBranch('pusher')?.cold, true, 'the branch whose volume it took is cold, on its ready snapshot');
      e.ok('branch', 'activate', 'thawed', '--container', 'qa');
      assert.equal(await sum('qa'), thawedSum, 'materialised again, with its data');
      e.ok('branch', 'activate', 'pusher', '--container', 'qa');
      assert.equal(await sum('qa'), pusherSum, 'the branch whose volume was taken comes back with its data');
      e.ok('branch', 'activate', 'main', '--container', 'qa');
      e.ok('branch', 'delete', 'thawed', '--container', 'qa');
      e.ok('branch', 'delete', 'pusher', '--container', 'qa');
    },
  },
  'branch-snapshot:after-capture': {
    setup: async () => {
      await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('main', 'before branch capture')`);
      mainSum = await sum('qa');
    },
    args: ['branch', 'create', 'half-branch', '--container', 'qa', '--from-branch', 'main'],
    check: async () => {
      assert.ok(!e.ok<BranchInfo[]>('branch', 'list', '--container', 'qa').some((b) => b.name === 'half-branch'), 'a half-made branch never shows');
      assert.equal(await sum('qa'), mainSum, 'the active branch keeps its data');
      e.ok('branch', 'create', 'half-branch', '--container', 'qa', '--from-branch', 'main');
    },
  },
  'branch-create:after-clone': {
    setup: async () => { mainSum = await sum('qa'); },
    args: ['branch', 'create', 'half-clone', '--container', 'qa', '--from-branch', 'empty'],
    check: async () => {
      assert.ok(!e.ok<BranchInfo[]>('branch', 'list', '--container', 'qa').some((b) => b.name === 'half-clone'), 'a half-made branch never shows');
      assert.equal(await sum('qa'), mainSum, 'the active branch keeps its data');
      e.ok('branch', 'create', 'half-clone', '--container', 'qa', '--from-branch', 'empty', '--activate');
      assert.equal(await count('qa'), 0, 'a branch of an inactive branch has that branch\'s data');
      e.ok('branch', 'activate', 'main', '--container', 'qa');
      e.ok('branch', 'delete', 'half-clone', '--container', 'qa');
    },
  },
  'container-delete:after-forget': {
    setup: () => { doomedPort = e.ok<ContainerInfo>('container', 'create', 'doomed', '--template', 'employees').port; },
    args: ['container', 'delete', 'doomed'],
    check: () => {
      assert.ok(!e.ok<ContainerInfo[]>('container', 'list').some((c) => c.name === 'doomed'), 'a delete that began finishes');
      const again = e.ok<ContainerInfo>('container', 'create', 'doomed', '--template', 'employees', '--port', String(doomedPort));
      assert.equal(again.port, doomedPort, 'its port is free again');
      e.ok('container', 'delete', 'doomed');
    },
  },
  'load:before-start': {
    setup: async () => {
      await bookmark('before-cut');
      rewindTo = await sum('qa');
      await e.sql('qa', `DELETE FROM employees WHERE id % 2 = 0`);
    },
    args: ['restore', 'before-cut', '--container', 'qa'],
    check: async () => {
      assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').state, 'running', 'the database that died down runs again');
      assert.equal(await sum('qa'), rewindTo, 'a restore cut between loading and starting finishes');
      const last = e.ok<{ events: Array<{ kind: string; user: string }> }>('timeline', '--container', 'qa').events[0]; // newest first
      assert.deepEqual([last?.kind, last?.user], ['restored', 'engine (recovery)']);
    },
  },
  'replay:during': {
    // A point-in-time restore's first start is replaying the WAL when the engine dies: its server
    // goes on alone (or, after a power cut, replays again at the next start), and recovery
    // finishes the restore to the same moment.
    setup: async () => {
      await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('at', 'the moment')`);
      moment = (await e.sql<{ m: Date }>('qa', 'SELECT clock_timestamp() AS m'))[0].m.toISOString();
      rewindTo = await sum('qa');
      await new Promise((r) => setTimeout(r, 150));
      await e.sql('qa', `DELETE FROM employees WHERE id % 3 = 0`);
    },
    get args() { return ['restore', '--at', moment, '--container', 'qa']; },
    check: async () => {
      assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').state, 'running');
      assert.equal(await sum('qa'), rewindTo, 'the data is as it was at the moment');
      const last = e.ok<{ events: Array<{ kind: string; user: string; moment?: string }> }>('timeline', '--container', 'qa').events[0];
      assert.deepEqual([last?.kind, last?.user, last?.moment], ['restored', 'engine (recovery)', moment]);
    },
  },
  'volume:after-scan': {
    setup: () => e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('before', 'cut snapshot')`).then(() => undefined),
    args: ['bookmark', 'create', 'cut-in-driver', '--container', 'qa'],
    check: async () => {
      assert.ok(!e.ok<BookmarkInfo[]>('bookmark', 'list').some((b) => b.name === 'cut-in-driver'), 'a bookmark cut inside the driver never shows');
      await bookmark('cut-in-driver');
    },
  },
  'volume:before-write': {
    setup: async () => {
      await bookmarkToClone('before-cut-write');
      rewindTo = await sum('qa');
      await e.sql('qa', `UPDATE employees SET last_name = 'cut mid-write'`);
    },
    args: ['restore', 'before-cut-write', '--container', 'qa'],
    check: async () => {
      assert.equal(await sum('qa'), rewindTo, 'a restore cut inside the driver, before it wrote, finishes');
    },
  },
  'chunks:before-index': {
    setup: () => e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('before', 'cut pack')`).then(() => undefined),
    args: ['bookmark', 'create', 'cut-pack', '--container', 'qa'],
    check: async () => {
      assert.ok(!e.ok<BookmarkInfo[]>('bookmark', 'list').some((b) => b.name === 'cut-pack'), 'a bookmark cut before its pack was indexed never shows');
      const packs = path.join(e.home, 'pool', 'chunks', 'packs');
      const names = fs.existsSync(packs) ? fs.readdirSync(packs) : [];
      const unnamed = names.filter((n) => n.endsWith('.pack') && !names.includes(n.replace(/\.pack$/, '.idx')));
      assert.deepEqual(unnamed, [], 'the pack no index names is gone after the restart');
      await bookmark('cut-pack');
    },
  },
  'start:before-sanitise': {
    // Another container's bookmark is foreign data: it starts sealed, and dies before it is sanitised.
    args: ['restore', 'edge data', '--container', 'verify'],
    check: async () => {
      const edge = [...bookmarks.values()].find((b) => b.name === 'edge data')!;
      assert.equal(await sum('verify'), edge.sum, 'the restore finishes, sanitised, and opens with the container\'s password');
    },
  },
};
let mainSum = '';
let spareSum = '';
let swapsBefore = 0;
const swapsLogged = () => (fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8').match(/restore swaps in the ready spare/g) ?? []).length;
let emptySum = '';
let thawedSum = '';
let pusherSum = '';
let rewindTo = '';
let moment = '';
let doomedPort = 0;

before(async () => {
  e = await TestEngine.start();
  e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  e.ok('container', 'create', 'qa', '--template', 'employees');
  e.ok('container', 'create', 'verify', '--template', 'employees');
  e.ok('container', 'create', 'bystander', '--template', 'employees');
  await e.sql('bystander', `INSERT INTO employees (first_name, last_name) VALUES ('bystander', 'row')`);
  e.ok('branch', 'create', 'empty', '--container', 'qa', '--from-template');
  e.ok('branch', 'activate', 'empty', '--container', 'qa');
  await e.sql('qa', 'DELETE FROM employees');
  e.ok('branch', 'activate', 'main', '--container', 'qa');
  await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('-1', 'deleted'), ('''''', '')`);
  await bookmark('edge data');
});
after(async () => e?.destroy());

async function openAt(port: number, password: string): Promise<number> {
  const c = new Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 15_000 });
  await c.connect();
  try {
    return Number((await c.query('SELECT count(*) AS n FROM employees')).rows[0].n);
  } finally {
    await c.end();
  }
}

/** The invariants every recovery must keep. */
async function invariants(point: string, before: Map<string, { port: number; state: string }>): Promise<void> {
  // Every database that was running runs again, on the same port.
  const now = new Map(e.ok<ContainerInfo[]>('container', 'list').map((c) => [c.name, c]));
  for (const [name, was] of before) {
    const c = now.get(name);
    if (!c) continue; // deleted by the scenario; its check says whether that was right
    assert.equal(c.port, was.port, `${point}: ${name} keeps its port`);
    assert.equal(c.state, was.state, `${point}: ${name} is ${was.state} again`);
    if (c.state === 'running') {
      const { password } = e.ok<{ password: string }>('container', 'url', name);
      await openAt(c.port, password);
    }
  }
  // Every completed bookmark is listed, and restores to the data it had.
  const listed = new Set(e.ok<BookmarkInfo[]>('bookmark', 'list').map((b) => b.id));
  for (const [id, { name, sum: data }] of bookmarks) {
    assert.ok(listed.has(id), `${point}: bookmark "${name}" (${id}) is still listed`);
    e.ok('restore', id, '--container', 'verify');
    assert.equal(await sum('verify'), data, `${point}: bookmark "${name}" restores to its data`);
  }
  // Every branch of every container opens in PostgreSQL.
  for (const c of e.ok<ContainerInfo[]>('container', 'list')) {
    if (c.state !== 'running') continue;
    const branches = e.ok<BranchInfo[]>('branch', 'list', '--container', c.name);
    const active = branches.find((b) => b.active)!.name;
    for (const b of branches) {
      if (!b.active) e.ok('branch', 'activate', b.name, '--container', c.name);
      await count(c.name);
    }
    if (e.ok<ContainerInfo>('container', 'show', c.name).activeBranch !== active) e.ok('branch', 'activate', active, '--container', c.name);
  }
  // No volume is left that no branch owns: each branch has exactly one, and one more for a ready
  // spare; a cold branch has none. Counted once spares and dehydrations are done.
  await idle();
  const branchCount = e.ok<ContainerInfo[]>('container', 'list')
    .reduce((n, c) => n + e.ok<BranchInfo[]>('branch', 'list', '--container', c.name)
      .reduce((m, b) => m + (b.cold ? 0 : 1) + (b.spareReady ? 1 : 0), 0), 0);
  assert.equal(fs.readdirSync(path.join(poolOf(e), 'volumes')).length, branchCount, `${point}: one volume per branch (and spare), no orphan`);
  // Nothing is left in the journal: the log says what recovery did.
  const log = fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8');
  assert.ok(!/recovery of .* failed/.test(log), `${point}: a recovery failed:\n${log.split('\n').filter((l) => /recover/.test(l)).join('\n')}`);
}

test('kill -9 at every fault point in server/engine/faults.ts; the engine recovers each time', async (t) => {
  const points = faultPointsFromSource(fs.readFileSync(FAULTS_TS, 'utf8'));
  assert.ok(points.length >= 8, `found ${points.length} fault points`);
  const missing = points.filter((p) => !scenarios[p] && !TESTED_ELSEWHERE[p]);
  assert.deepEqual(missing, [], 'every fault point has a scenario in faults.test.ts');
  const here = points.filter((p) => !TESTED_ELSEWHERE[p]);
  for (const point of here) {
    const s = scenarios[point];
    await s.setup?.();
    // Background work the setup started (a spare for a new bookmark) must end before the engine
    // stops: otherwise the engine started with the fault redoes it at start, and may die there,
    // in its own job, before the command below ever connects.
    await idle();
    const before = new Map(e.ok<ContainerInfo[]>('container', 'list').map((c) => [c.name, { port: c.port, state: c.state }]));
    e.ok('engine', 'stop');
    const started = e.cliWith({ SLIPSTREAM_FAULT: point, ...s.env }, 'engine', 'start');
    assert.equal(started.code, 0, started.stderr);
    const pid = (started.json as { pid: number }).pid;
    const r = e.cli(...s.args);
    if (s.background) {
      assert.equal(r.code, 0, `${s.args.join(' ')} should have succeeded before the engine died at ${point}: ${r.stdout} ${r.stderr}`);
    } else {
      assert.notEqual(r.code, 0, `${s.args.join(' ')} should have died at ${point}: ${r.stdout}`);
      assert.equal((r.json as { error?: { code: string } })?.error?.code, 'ConnectionLost', `${point}: ${r.stdout}`);
    }
    await waitDead(pid);
    const restarted = e.cli('engine', 'start');
    assert.equal(restarted.code, 0, `${point}: restart: ${restarted.stderr}`);
    await s.check();
    await invariants(point, before);
    survived++;
    t.diagnostic(`survived kill -9 at ${point}`);
  }
  console.log(`faults survived: ${survived} of ${here.length} (${points.length - here.length} more in their own suites); bookmarks verified each time: ${bookmarks.size}; data lost = 0`);
  assert.equal(survived, here.length);
});

/** The pool this engine uses, as its log says at start. */
function poolOf(engine: TestEngine): string {
  const m = /: pool (\S+), /.exec(fs.readFileSync(path.join(engine.home, 'engine.log'), 'utf8'));
  if (!m) throw new Error('no pool in the engine log');
  return m[1];
}

async function waitDead(pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try { process.kill(pid, 0); } catch { return; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`engine ${pid} did not die`);
}

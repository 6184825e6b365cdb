import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, describe, test } from 'node:test';
import type { BranchInfo, ConnectionInfo, EngineStatus } from '../../server/protocol';
import { amcheck } from '../support/amcheck';
import { type CliRunner, FIXTURES, TestEngine, tableChecksumsAt } from '../support/engine';
import { ordinaryUserSite, ordinaryUserSkip } from '../support/osUser';
import { sqlAt } from '../support/team';

/**
 * Cold branches (server/engine/coldBranches.ts, tracker issue 11) on the blocks driver: with
 * the default K = 2, a container with four branches of distinct data keeps at most two of them
 * materialised once background work is idle (volumes on disk: those two, plus their spares).
 * Activating a cold branch brings back exactly its data (per-table checksums, amcheck clean);
 * switching between the two most recent branches materialises nothing (the engine log says when
 * it does); deleting a cold branch deletes its snapshot. Run as root, and as an ordinary user.
 */
const K = 2;
const BRANCHES = ['main', 'b1', 'b2', 'b3'];

describe('cold branches on the blocks driver', () => {
  const homes: string[] = [];
  after(() => { for (const h of homes) fs.rmSync(h, { recursive: true, force: true }); });

  test('the engine refuses a K below 1', () => {
    const e = new TestEngine(fs.mkdtempSync(path.join(os.tmpdir(), 'slip-home-')));
    homes.push(e.home);
    const r = e.cliWith({ SLIPSTREAM_WARM_BRANCHES: '0' }, 'engine', 'start', '--driver', 'blocks');
    assert.notEqual(r.code, 0, 'K = 0 is refused');
    assert.match(r.stdout + r.stderr, /SLIPSTREAM_WARM_BRANCHES must be a whole number of at least 1/);
  });

  test('as the engine\'s own user (root here)', async () => {
    const e = new TestEngine(fs.mkdtempSync(path.join(os.tmpdir(), 'slip-home-')));
    homes.push(e.home);
    e.ok('engine', 'start', '--driver', 'blocks');
    try {
      await coldStory(e, e.home, path.join(FIXTURES, 'employees.sql'));
    } finally {
      e.cli('engine', 'stop');
    }
  });

  const skip = ordinaryUserSkip();
  test('as an ordinary OS user', { skip }, async () => {
    const { dir, me } = ordinaryUserSite();
    homes.push(dir);
    me.ok('engine', 'start', '--driver', 'blocks');
    try {
      await coldStory(me, me.home, path.join(dir, 'employees.sql'));
    } finally {
      me.cli('engine', 'stop');
    }
  });
});

async function coldStory(r: CliRunner, home: string, sqlFile: string): Promise<void> {
  const site = new Site(r, home);
  r.ok('template', 'create', 'employees', '--sql', sqlFile);
  r.ok('container', 'create', 'qa', '--template', 'employees');
  // Four branches, each with a row of its own (from the template, so each one's reset point is
  // the template's snapshot and a cold branch's own snapshot is its only other one).
  const sums = new Map<string, Record<string, string>>();
  for (const name of BRANCHES) {
    if (name !== 'main') r.ok('branch', 'create', name, '--container', 'qa', '--from-template', '--activate');
    await sqlAt(site.url(), `INSERT INTO employees (first_name, last_name) VALUES ('${name}', 'only on ${name}')`);
    sums.set(name, await tableChecksumsAt(site.url()));
  }
  await site.bounded('after four branches');
  assert.deepEqual(site.list().filter((b) => b.cold).map((b) => b.name).sort(), ['b1', 'main'], 'the two least recently active are cold');

  // Every branch, cold or not, comes back with exactly its data, intact.
  for (const name of BRANCHES) {
    const before = site.materialised();
    r.ok('branch', 'activate', name, '--container', 'qa');
    assert.deepEqual(await tableChecksumsAt(site.url()), sums.get(name), `${name} has exactly its data`);
    const check = await amcheck(site.url());
    assert.deepEqual(check.problems, [], `${name}: amcheck is clean`);
    assert.ok(check.heaps > 0 && check.indexes > 0);
    assert.ok(site.materialised() <= before + 1);
    await site.bounded(`after activating ${name}`);
  }

  // Once idle, the branch the next activation makes surplus was captured ahead: a cold branch
  // activated then took its volume (rewritten in place) instead of a new one.
  assert.ok(site.taken() >= 2, `cold branches took the volumes of ready branches: ${site.taken()} times`);
  // Those captures read only the pages noted when the switch stopped the branch's database.
  assert.ok(site.notedCaptures() >= 1, 'a capture of a stopped volume read only its noted pages');

  // A/B: the two most recent branches (b2, then b3 was activated last) switch without a clone.
  const clones = site.materialised();
  for (const name of ['b2', 'b3', 'b2', 'b3']) {
    r.ok('branch', 'activate', name, '--container', 'qa');
    assert.deepEqual(await tableChecksumsAt(site.url()), sums.get(name));
  }
  await site.bounded('after the A/B switches');
  assert.equal(site.materialised(), clones, 'switching between the two most recent branches materialises nothing');

  // A cold branch's delete frees its snapshot: its reset point is the template's, still used.
  const cold = site.list().find((b) => b.cold);
  assert.ok(cold, 'a cold branch to delete');
  const snaps = site.snapshots();
  r.ok('branch', 'delete', cold.name, '--container', 'qa');
  assert.equal(site.snapshots(), snaps - 1, `deleting cold branch ${cold.name} deleted its snapshot`);
  r.ok('container', 'delete', 'qa');
  await site.idle();
  assert.equal(site.volumes(), 0, 'no volume outlives its container');
}

/** What the test reads of one engine: its branches, its pool on disk, its log. */
class Site {
  constructor(readonly r: CliRunner, readonly home: string) {}

  url(): string {
    return this.r.ok<ConnectionInfo>('container', 'url', 'qa').url;
  }

  list(): BranchInfo[] {
    return this.r.ok<BranchInfo[]>('branch', 'list', '--container', 'qa');
  }

  private log(): string {
    return fs.readFileSync(path.join(this.home, 'engine.log'), 'utf8');
  }

  /** How many times the engine has materialised a cold branch. */
  materialised(): number {
    return (this.log().match(/materialising branch/g) ?? []).length;
  }

  /** How many of those took the volume of a ready branch, which went cold. */
  taken(): number {
    return (this.log().match(/materialising branch \S+ from snapshot \S+ in the volume of branch/g) ?? []).length;
  }

  /** Captures of a stopped volume that read only the pages noted at its stop. */
  notedCaptures(): number {
    return (this.log().match(/MiB for the \d+ changed pages the WAL names since/g) ?? []).length;
  }

  private pool(): string {
    const m = /: pool (\S+), /.exec(this.log());
    if (!m) throw new Error('no pool in the engine log');
    return m[1];
  }

  volumes(): number {
    return fs.readdirSync(path.join(this.pool(), 'volumes')).length;
  }

  snapshots(): number {
    return fs.readdirSync(path.join(this.pool(), 'snapshots')).filter((f) => f.endsWith('.manifest')).length;
  }

  /** Spares and dehydrations run in the background: wait until none does. */
  async idle(): Promise<void> {
    for (let i = 0; i < 600; i++) {
      if (this.r.ok<EngineStatus>('engine', 'status').backgroundJobs === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.fail('background work never finished');
  }

  /** Once idle: at most K branches materialised, and on disk exactly their volumes and spares. */
  async bounded(when: string): Promise<void> {
    await this.idle();
    const list = this.list();
    const warm = list.filter((b) => !b.cold);
    assert.ok(warm.length <= K, `${when}: ${warm.length} branches materialised: ${warm.map((b) => b.name).join(', ')}`);
    assert.equal(list.length - warm.length, Math.max(0, list.length - K), `${when}: every branch beyond K is cold`);
    const spares = warm.filter((b) => b.spareReady).length;
    assert.equal(this.volumes(), warm.length + spares, `${when}: the volumes on disk are the warm branches' and their spares'`);
  }
}

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import type { BranchInfo, ConnectionInfo } from '../../server/protocol';
import { amcheck } from '../support/amcheck';
import { driverSites, type DriverSite } from '../support/drivers';
import { FIXTURES, TestEngine } from '../support/engine';

/**
 * Ready spares (server/engine/spares.ts, tracker issue 11), on every driver: story 1's loop
 * (bookmark, break things, restore, break, restore...) with spares on. Each restore gives the
 * bookmark's data back, byte for byte and amcheck-clean; once the spare is ready, a restore
 * swaps it in instead of cloning (the engine log says so), and the spare is rebuilt behind it.
 * A reset takes the spare too. Deleting the branch or the container deletes its spare's volume.
 * By default (SLIPSTREAM_SPARES unset), blocks builds a spare only for a branch that has been
 * restored: there a spare is a full copy, and the first restore rewrites in place.
 */
describe('ready spares of the latest bookmark', async () => {
  const sites = await driverSites(1024);
  after(async () => { for (const s of sites) await s.cleanup(); });
  for (const site of sites) {
    describe(`${site.driver} driver`, () => {
      if (site.skip) {
        test(`spares on ${site.driver}`, (t) => { t.skip(site.skip); });
        return;
      }
      sparesOn(site);
      sparesByDefault(site);
    });
  }
});

function sparesOn(site: DriverSite): void {
  let e: TestEngine;
  const swaps = () => (fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8').match(/swaps in the ready spare/g) ?? []).length;
  const volumes = () => fs.readdirSync(path.join(poolOf(e), 'volumes')).length;
  const branch = (name: string, container = 'qa') =>
    e.ok<BranchInfo[]>('branch', 'list', '--container', container).find((b) => b.name === name)!;

  /** The spare is built in the background: wait until the branch says it is ready. */
  async function spareReady(name = 'main', container = 'qa'): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (branch(name, container).spareReady) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.fail(`the spare of ${container}/${name} never became ready`);
  }

  before(async () => {
    e = new TestEngine(fs.mkdtempSync(path.join(os.tmpdir(), 'slip-home-')), site.pool);
    e.ok(...['engine', 'start', '--driver', site.driver, ...(site.pool ? ['--pool', site.pool] : [])]);
    e.ok('engine', 'stop');
    // Spares are on by default; this says so, whatever the test's environment.
    const started = e.cliWith({ SLIPSTREAM_SPARES: 'on' }, 'engine', 'start');
    assert.equal(started.code, 0, started.stderr);
    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    e.ok('container', 'create', 'qa', '--template', 'employees');
  });
  after(async () => e?.destroy());

  test('story 1 loop: bookmark, break, restore x3; the second and third restores swap in the spare', async () => {
    await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('-1', 'deleted'), ('''''', '')`);
    const want = await e.checksum('qa');
    e.ok('bookmark', 'create', 'after edge case data', '--container', 'qa');
    await spareReady();
    const beforeLoop = swaps();
    for (let round = 1; round <= 3; round++) {
      await e.sql('qa', 'DELETE FROM employees');
      if (round > 1) await spareReady(); // rebuilt behind the previous restore
      e.ok('restore', 'after edge case data', '--container', 'qa');
      assert.deepEqual(await e.checksum('qa'), want, `round ${round}: every row is back`);
      const check = await amcheck(e.ok<ConnectionInfo>('container', 'url', 'qa').url);
      assert.deepEqual(check.problems, [], `round ${round}: amcheck is clean`);
      assert.equal(swaps(), beforeLoop + round, `round ${round}: the restore swapped in the ready spare`);
    }
    await spareReady();
    await e.idle();
    assert.equal(volumes(), 2, 'one working volume and one spare');
  });

  test('a reset takes the spare too, and the data is the reset point', async () => {
    const want = await e.checksum('qa');
    await e.sql('qa', `UPDATE employees SET first_name = 'reset me'`);
    const before = swaps();
    e.ok('reset', '--container', 'qa');
    assert.deepEqual(await e.checksum('qa'), want);
    assert.equal(swaps(), before + 1, 'the reset swapped in the spare');
    await spareReady();
  });

  test('deleting the branch, then the container, deletes the spares\' volumes', async () => {
    e.ok('branch', 'create', 'side', '--container', 'qa', '--from-template');
    e.ok('branch', 'activate', 'side', '--container', 'qa');
    e.ok('bookmark', 'create', 'on side', '--container', 'qa');
    await spareReady('side');
    await e.idle();
    assert.equal(volumes(), 4, 'two branches, each with a spare');
    e.ok('branch', 'activate', 'main', '--container', 'qa');
    e.ok('branch', 'delete', 'side', '--container', 'qa');
    assert.equal(volumes(), 2, 'the deleted branch\'s volume and spare are gone');
    e.ok('container', 'delete', 'qa');
    assert.equal(volumes(), 0, 'the container\'s volumes and spares are gone');
  });
}

function sparesByDefault(site: DriverSite): void {
  describe('by default', () => {
    let e: TestEngine;
    before(() => {
      e = new TestEngine(fs.mkdtempSync(path.join(os.tmpdir(), 'slip-home-')), site.pool);
      const args = ['engine', 'start', '--driver', site.driver, ...(site.pool ? ['--pool', site.pool] : [])];
      const refused = e.cliWith({ SLIPSTREAM_SPARES: 'sometimes' }, ...args);
      assert.notEqual(refused.code, 0, 'a setting that is not on, restored or off is refused');
      assert.match(refused.stderr, /SLIPSTREAM_SPARES must be on, restored, off .*not "sometimes"/);
      const started = e.cliWith({ SLIPSTREAM_SPARES: '' }, ...args);
      assert.equal(started.code, 0, started.stderr);
      e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
      e.ok('container', 'create', 'qa', '--template', 'employees');
    });
    after(async () => e?.destroy());

    const fullCopies = site.driver === 'blocks';
    test(fullCopies ? 'a bookmark alone makes no spare; the first restore does, and the second swaps it in'
      : 'a bookmark makes a spare, and the first restore swaps it in', async () => {
      const spareReady = () => e.ok<BranchInfo[]>('branch', 'list', '--container', 'qa').find((b) => b.active)!.spareReady === true;
      const swaps = () => (fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8').match(/swaps in the ready spare/g) ?? []).length;
      await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('kept', 'row')`);
      const want = await e.checksum('qa');
      e.ok('bookmark', 'create', 'kept', '--container', 'qa');
      await e.idle();
      assert.equal(spareReady(), !fullCopies, fullCopies ? 'no spare after a bookmark alone' : 'a spare after the bookmark');
      for (let round = 1; round <= 2; round++) {
        await e.sql('qa', 'DELETE FROM employees');
        const before = swaps();
        e.ok('restore', 'kept', '--container', 'qa');
        assert.deepEqual(await e.checksum('qa'), want, `restore ${round}: every row is back`);
        const check = await amcheck(e.ok<ConnectionInfo>('container', 'url', 'qa').url);
        assert.deepEqual(check.problems, [], `restore ${round}: amcheck is clean`);
        const swapped = !fullCopies || round > 1;
        assert.equal(swaps(), before + (swapped ? 1 : 0), `restore ${round} ${swapped ? 'swapped in' : 'did not use'} a spare`);
        await e.idle();
        assert.equal(spareReady(), true, `restore ${round}: the spare is rebuilt behind it`);
      }
    });
  });
}

/** The pool this engine uses, as its log says at start. */
function poolOf(engine: TestEngine): string {
  const m = /: pool (\S+), /.exec(fs.readFileSync(path.join(engine.home, 'engine.log'), 'utf8'));
  if (!m) throw new Error('no pool in the engine log');
  return m[1];
}

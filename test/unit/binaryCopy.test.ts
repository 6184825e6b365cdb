/**
 * The root-owned copy of PostgreSQL a root engine runs (postgres/binaryCopy.ts), made
 * from a small installation of the same shape as the embedded one: made once, checked
 * at every start, made again when it was changed or its source was, and never put
 * where someone other than root could replace it. The real installation, run from a
 * 0700 checkout, is in test/engine/reach.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { makeSafePlace, reachableCopy } from '../../server/engine/postgres/binaryCopy';
import { findPgBinaries } from '../../server/engine/postgres/binaries';
import { CONTAINER_UIDS } from '../../server/engine/postgres/pgUser';

const notRoot = process.getuid?.() !== 0 ? 'needs root: the copy must be root\'s, and only root can make files of other users' : false;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'binary-copy-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** PREFIX/bin/{initdb,pg_ctl,postgres}, lib/libx.so.1.2 with its link, share/x.conf. */
function fakeInstall(name: string): string {
  const prefix = path.join(tmp, name);
  for (const d of ['bin', 'lib', 'share/postgresql']) fs.mkdirSync(path.join(prefix, d), { recursive: true });
  for (const b of ['initdb', 'pg_ctl', 'postgres']) fs.writeFileSync(path.join(prefix, 'bin', b), `#!/bin/sh\necho ${b}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(prefix, 'lib', 'libx.so.1.2'), 'library');
  fs.symlinkSync('libx.so.1.2', path.join(prefix, 'lib', 'libx.so.1'));
  fs.writeFileSync(path.join(prefix, 'share', 'postgresql', 'x.conf'), 'setting = 1\n', { mode: 0o600 });
  return prefix;
}

const stampOf = (binDir: string) => JSON.parse(fs.readFileSync(path.join(binDir, '..', 'slipstream-copy.json'), 'utf8')) as { made: string; files: Record<string, string> };

test('the copy is root\'s, readable and runnable by everyone, writable by no one else, and made once', { skip: notRoot }, async () => {
  const prefix = fakeInstall('a');
  const copies = path.join(tmp, 'copies-a');
  const bins = await reachableCopy(findPgBinaries(path.join(prefix, 'bin')), copies);
  const copy = path.dirname(bins.dir);
  assert.equal(path.dirname(copy), copies);
  assert.equal(fs.statSync(copies).mode & 0o777, 0o711, 'a new folder above the copies: passable, not listable');
  const modes: Record<string, number> = {};
  for (const rel of ['.', 'bin', 'bin/initdb', 'lib/libx.so.1.2', 'share/postgresql', 'share/postgresql/x.conf']) {
    const st = fs.lstatSync(path.join(copy, rel));
    assert.equal(st.uid, 0, `${rel} is root's`);
    modes[rel] = st.mode & 0o7777;
  }
  assert.deepEqual(modes, { '.': 0o755, bin: 0o755, 'bin/initdb': 0o555, 'lib/libx.so.1.2': 0o444, 'share/postgresql': 0o755, 'share/postgresql/x.conf': 0o444 });
  assert.equal(fs.readlinkSync(path.join(copy, 'lib', 'libx.so.1')), 'libx.so.1.2');
  assert.equal(fs.readFileSync(bins.initdb, 'utf8'), fs.readFileSync(path.join(prefix, 'bin', 'initdb'), 'utf8'));
  assert.equal(Object.keys(stampOf(bins.dir).files).length, 5, 'a hash for every file');
  const made = stampOf(bins.dir).made;
  const again = await reachableCopy(findPgBinaries(path.join(prefix, 'bin')), copies);
  assert.equal(again.dir, bins.dir);
  assert.equal(stampOf(again.dir).made, made, 'an intact copy is used as it is');
});

test('a copy that was changed is made again; a changed source gets a copy of its own', { skip: notRoot }, async () => {
  const prefix = fakeInstall('b');
  const copies = path.join(tmp, 'copies-b');
  const first = await reachableCopy(findPgBinaries(path.join(prefix, 'bin')), copies);
  fs.chmodSync(first.postgres, 0o777);
  const made = stampOf(first.dir).made;
  const fixed = await reachableCopy(findPgBinaries(path.join(prefix, 'bin')), copies);
  assert.equal(fixed.dir, first.dir);
  assert.notEqual(stampOf(fixed.dir).made, made, 'made again');
  assert.equal(fs.statSync(fixed.postgres).mode & 0o7777, 0o555);

  fs.writeFileSync(path.join(prefix, 'bin', 'postgres'), '#!/bin/sh\necho a newer postgres\n');
  const newer = await reachableCopy(findPgBinaries(path.join(prefix, 'bin')), copies);
  assert.notEqual(newer.dir, first.dir, 'a reinstall is another copy');
  assert.match(fs.readFileSync(newer.postgres, 'utf8'), /newer/);
  assert.deepEqual(fs.readdirSync(copies).filter((n) => n.startsWith('.')), [], 'no half-made copy left');
});

test('no copy where someone other than root could replace it', { skip: notRoot }, async () => {
  const prefix = fakeInstall('c');
  const open = path.join(tmp, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  await assert.rejects(reachableCopy(findPgBinaries(path.join(prefix, 'bin')), path.join(open, 'copies')),
    (err: Error & { code?: string }) => err.code === 'InvalidArgument' && err.message.includes(`${open} can be written by users other than root`));
  assert.deepEqual(fs.readdirSync(open), [], 'nothing made there');

  const theirs = path.join(tmp, 'theirs');
  fs.mkdirSync(theirs, { mode: 0o755 });
  fs.chownSync(theirs, CONTAINER_UIDS.first, CONTAINER_UIDS.first);
  await assert.rejects(makeSafePlace(path.join(theirs, 'copies')), /belongs to user id 1500000000, not root/);

  const sticky = path.join(tmp, 'sticky');
  fs.mkdirSync(sticky);
  fs.chmodSync(sticky, 0o1777); // like /tmp: others cannot rename or remove root's entries
  await makeSafePlace(path.join(sticky, 'copies'));
});

test('an installation with a link that leads out of it is refused', { skip: notRoot }, async () => {
  const prefix = fakeInstall('d');
  fs.symlinkSync('/etc/shadow', path.join(prefix, 'share', 'postgresql', 'planted'));
  await assert.rejects(reachableCopy(findPgBinaries(path.join(prefix, 'bin')), path.join(tmp, 'copies-d')),
    /planted is a link to \/etc\/shadow outside the installation/);
});

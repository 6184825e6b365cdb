/**
 * Machine-wide reservations (ports, OS user ids) against the real registry folders:
 * honoured while their home exists and belongs to their writer; stale, garbled or
 * forged entries are taken over. Numbers near the end of the uid range keep clear
 * of what engines hand out.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, test } from 'node:test';
import { CONTAINER_UIDS } from '../../server/engine/postgres/pgUser';
import { release, reserve } from '../../server/engine/reservations';

const n = CONTAINER_UIDS.last - 7 - (process.pid % 1000);
const file = path.join(os.tmpdir(), 'slipstream-uids', String(n));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reservations-'));
const homeA = path.join(tmp, 'a');
const homeB = path.join(tmp, 'b');
fs.mkdirSync(homeA);
fs.mkdirSync(homeB);
after(() => {
  fs.rmSync(file, { force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a live reservation is kept for its home and refused to others until released', () => {
  fs.rmSync(file, { force: true });
  assert.equal(reserve('uids', n, homeA), true);
  assert.equal(reserve('uids', n, homeA), true, 'again for the same home');
  assert.equal(reserve('uids', n, homeB), false, 'refused while home A exists');
  release('uids', n, homeB); // not B's: nothing happens
  assert.equal(fs.readFileSync(file, 'utf8'), homeA);
  release('uids', n, homeA);
  assert.equal(fs.existsSync(file), false);
  assert.equal(reserve('uids', n, homeB), true);
  release('uids', n, homeB);
});

test("a reservation whose home is gone, or that names no home, is taken over", () => {
  const gone = path.join(tmp, 'gone');
  fs.mkdirSync(gone);
  assert.equal(reserve('uids', n, gone), true);
  fs.rmSync(gone, { recursive: true });
  assert.equal(reserve('uids', n, homeB), true, 'stale: its home no longer exists');
  fs.writeFileSync(file, 'not a path');
  assert.equal(reserve('uids', n, homeA), true, 'garbled');
  assert.equal(fs.readFileSync(file, 'utf8'), homeA);
  release('uids', n, homeA);
});

test("an entry written by someone other than its home's owner is a forgery and is taken over", (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: only root can write a file as another user');
  // What a container's program (running as its container's OS user) could write,
  // naming a home that exists and is not its own.
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, homeA);
  fs.chownSync(file, CONTAINER_UIDS.first + 123, CONTAINER_UIDS.first + 123);
  assert.equal(reserve('uids', n, homeB), true);
  assert.equal(fs.readFileSync(file, 'utf8'), homeB);
  assert.equal(fs.statSync(file).uid, 0, 'the forged file was replaced, not rewritten in place');
  release('uids', n, homeB);
});

/** Runs `fn` with os.tmpdir() pointing at a folder of its own, so the machine's registry is left alone. */
function inOwnTmp(fn: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reservations-tmpdir-'));
  fs.chmodSync(dir, 0o755); // other users pass through it, as through /tmp
  const old = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    fn(dir);
  } finally {
    if (old === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = old;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('the reservation folders are world-writable (1777) whatever the umask', () => {
  inOwnTmp((dir) => {
    const old = process.umask(0o022);
    try {
      assert.equal(reserve('ports', 40_001, homeA), true);
      assert.equal(reserve('uids', n, homeA), true);
    } finally {
      process.umask(old);
    }
    for (const kind of ['ports', 'uids']) {
      const mode = fs.statSync(path.join(dir, `slipstream-${kind}`)).mode & 0o7777;
      assert.equal(mode.toString(8), '1777', `slipstream-${kind}`);
    }
  });
});

test('an engine that cannot write a reservation says so in its log instead of skipping silently', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: to run the engine code as another user');
  inOwnTmp((dir) => {
    // What an older root engine left behind: a folder other users cannot write.
    fs.mkdirSync(path.join(dir, 'slipstream-ports'), { mode: 0o1755 });
    const code = `const r = require(${JSON.stringify(path.resolve(__dirname, '../../server/engine/reservations.js'))});
      process.stdout.write(String(r.reserve('ports', 40002, ${JSON.stringify(homeA)})));
      r.reserve('ports', 40003, ${JSON.stringify(homeA)});`;
    const child = spawnSync(process.execPath, ['-e', code], { uid: 65534, gid: 65534, encoding: 'utf8', env: { ...process.env, TMPDIR: dir } });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, 'true', 'the caller still decides by its own checks');
    const lines = child.stderr.trim().split('\n').filter((l) => l.includes('reserve'));
    assert.equal(lines.length, 1, `one log line, not one per number: ${child.stderr}`);
    assert.match(lines[0], /cannot reserve port 40002 .*slipstream-ports.*chmod 1777/);
  });
});

test('a folder or entry planted as a symlink is never followed by a root engine', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: the attack is on what a root engine writes');
  inOwnTmp((dir) => {
    // /tmp is writable by every container's OS user, and fs.protected_symlinks may be 0.
    const victim = path.join(dir, 'victim-dir');
    fs.mkdirSync(victim, { mode: 0o700 });
    fs.symlinkSync(victim, path.join(dir, 'slipstream-ports'));
    assert.equal(reserve('ports', 40_004, homeA), true);
    assert.deepEqual(fs.readdirSync(victim), [], 'nothing was written through the linked folder');
    const st = fs.lstatSync(path.join(dir, 'slipstream-ports'));
    assert.ok(st.isDirectory() && !st.isSymbolicLink());
    assert.deepEqual([st.uid, (st.mode & 0o7777).toString(8)], [0, '1777']);

    const secret = path.join(dir, 'root-only');
    fs.writeFileSync(secret, 'secret', { mode: 0o600 });
    const entry = path.join(dir, 'slipstream-ports', '40005');
    fs.symlinkSync(secret, entry);
    fs.lchownSync(entry, CONTAINER_UIDS.first + 5, CONTAINER_UIDS.first + 5);
    assert.equal(reserve('ports', 40_005, homeB), true);
    assert.equal(fs.readFileSync(secret, 'utf8'), 'secret', 'the file behind the planted entry is untouched');
    assert.ok(fs.lstatSync(entry).isFile(), 'the planted link was replaced by a real entry');
    assert.equal(fs.readFileSync(entry, 'utf8'), homeB);
  });
});

test("a folder another user made is taken by a root engine, its entries kept", (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: to make the folder as another user');
  inOwnTmp((dir) => {
    const folder = path.join(dir, 'slipstream-ports');
    fs.mkdirSync(folder, { mode: 0o777 });
    fs.chownSync(folder, CONTAINER_UIDS.first + 6, CONTAINER_UIDS.first + 6); // its owner could delete anyone's entries
    fs.writeFileSync(path.join(folder, '40006'), homeA);
    assert.equal(reserve('ports', 40_007, homeB), true);
    const st = fs.statSync(folder);
    assert.deepEqual([st.uid, (st.mode & 0o7777).toString(8)], [0, '1777']);
    assert.equal(fs.readFileSync(path.join(folder, '40006'), 'utf8'), homeA);
  });
});

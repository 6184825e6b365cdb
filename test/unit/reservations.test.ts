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

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import {
  checkPackIndex, decodeBookmark, decodeFiles, decodePackIndex, encodeFiles, encodePackIndex, type FilesEntry,
} from '../../server/engine/remotes/format';
import { ChunkNames } from '../../server/engine/remotes/packs';
import { EngineError } from '../../server/engine/errors';

/** Issue 15: what a remote sends back drives writes into a volume; anything off is refused. */
const id = 'a'.repeat(64);
const good: FilesEntry[] = [
  { path: 'base', type: 'dir', mode: 0o700 },
  { path: 'base/1', type: 'file', mode: 0o600, size: 70_000, chunks: [id, '0'] },
  { path: 'pg_tblspc', type: 'dir', mode: 0o700 },
  { path: 'pg_tblspc/16384', type: 'symlink', mode: 0o777, target: '/elsewhere' },
];

/** A file list as a hostile remote would serve it: any JSON, correctly hashed and gzipped. */
function served(entries: unknown[]): { hash: string; body: Buffer } {
  const json = Buffer.from(JSON.stringify({ format: 'slipstream-files', version: 1, chunkSize: 65536, entries }));
  return { hash: createHash('sha256').update(json).digest('hex'), body: gzipSync(json) };
}

const refused = (fn: () => unknown, why: RegExp) =>
  assert.throws(fn, (err: Error) => err instanceof EngineError && err.code === 'RemoteFailed' && why.test(err.message), String(why));

test('a file list round-trips, named by the hash of its JSON', async () => {
  const { hash, body } = await encodeFiles(good);
  assert.deepEqual(decodeFiles(hash, body).entries, good);
});

test('a file list encoded entry by entry is the JSON of the whole, over many flushes', async () => {
  // 3,000 files of 20 chunks: 4 MB of JSON, so FilesEncoder writes to gzip in many pieces.
  const many: FilesEntry[] = [{ path: 'base', type: 'dir', mode: 0o700 }];
  for (let f = 0; f < 3000; f++) {
    const chunks = Array.from({ length: 20 }, (_, c) => createHash('sha256').update(`${f}/${c}`).digest('hex'));
    many.push({ path: `base/${String(f).padStart(5, '0')}`, type: 'file', mode: 0o600, size: 20 * 65536, chunks });
  }
  const whole = Buffer.from(JSON.stringify({ format: 'slipstream-files', version: 1, chunkSize: 65536, entries: many }));
  const { hash, body } = await encodeFiles(many);
  assert.equal(hash, createHash('sha256').update(whole).digest('hex'));
  assert.deepEqual(decodeFiles(hash, body).entries, many);
  assert.ok(body.length < whole.length * 0.7, `gzipped: ${body.length} of ${whole.length}`);
});

test('a file list is refused when its hash, paths, order or chunks are off', async () => {
  const { body } = await encodeFiles(good);
  refused(() => decodeFiles('b'.repeat(64), body), /hash does not match/);
  refused(() => decodeFiles(id, Buffer.from('not gzip')), /not gzip/);
  const cases: Array<[unknown[], RegExp]> = [
    [[{ path: '../etc', type: 'dir', mode: 0o700 }], /a bad entry/],
    [[{ path: '/etc', type: 'dir', mode: 0o700 }], /a bad entry/],
    [[{ path: 'a/./b', type: 'dir', mode: 0o700 }], /a bad entry/],
    [[{ path: 'base/1', type: 'file', mode: 0o600, size: 1, chunks: [id] }], /not inside a listed directory/],
    [[{ path: 'link', type: 'symlink', mode: 0o777, target: '/etc' }, { path: 'link/passwd', type: 'file', mode: 0o600, size: 1, chunks: [id] }],
      /not inside a listed directory/],
    [[{ path: 'b', type: 'dir', mode: 0o700 }, { path: 'a', type: 'dir', mode: 0o700 }], /out of order/],
    [[{ path: 'f', type: 'file', mode: 0o600, size: 70_000, chunks: [id] }], /a bad file entry/],
    [[{ path: 'f', type: 'file', mode: 0o600, size: 1, chunks: ['../x'] }], /a bad file entry/],
    [[{ path: 'f', type: 'fifo', mode: 0o600 }], /a bad file entry/],
    [[{ path: 'f', type: 'dir', mode: 0o70000 }], /a bad entry/],
  ];
  for (const [entries, why] of cases) {
    const { hash, body: b } = served(entries);
    refused(() => decodeFiles(hash, b), why);
  }
});

test('modes from a remote never carry setuid, setgid or sticky bits', () => {
  const { hash, body } = served([{ path: 'f', type: 'file', mode: 0o4755, size: 0, chunks: [] }, { path: 't', type: 'dir', mode: 0o1777 }]);
  assert.deepEqual(decodeFiles(hash, body).entries.map((e) => e.mode), [0o755, 0o777]);
});

test('a pack index is refused when a record is torn, damaged or out of range', () => {
  const chunks = [{ id, offset: 0, length: 100, compressed: true }, { id: 'b'.repeat(64), offset: 100, length: 65536, compressed: false }];
  const body = encodePackIndex(chunks);
  assert.deepEqual(decodePackIndex('p1', body).chunks, chunks);
  refused(() => decodePackIndex('p1', body.subarray(0, body.length - 1)), /torn or damaged/);
  const flipped = Buffer.from(body);
  flipped[40] ^= 1;
  refused(() => decodePackIndex('p1', flipped), /torn or damaged/);
  refused(() => decodePackIndex('p1', encodePackIndex([{ id, offset: 0, length: 10 ** 6, compressed: false }])), /a bad entry/);
  refused(() => decodePackIndex('p1', encodePackIndex([{ id, offset: 0, length: 0, compressed: false }])), /a bad entry/);
});

test('a bookmark record is refused unless every field is what it should be', () => {
  const ok = {
    format: 'slipstream-bookmark', version: 1, files: id, pushedAt: '2026-12-04T00:00:00Z',
    bookmark: { id: 'bm_0123456789ab', name: 'bug', owner: 'qa', container: 'qa', branch: 'main', tags: [], note: '', createdAt: 'x', consistency: 'online-backup' },
    template: { id: 'tpl_0123456789ab', name: 'shop', version: 1 },
  };
  assert.equal(decodeBookmark('k', Buffer.from(JSON.stringify(ok))).bookmark.name, 'bug');
  for (const change of [
    { bookmark: { ...ok.bookmark, id: '../bm' } },
    { bookmark: { ...ok.bookmark, consistency: 'whatever' } },
    { bookmark: { ...ok.bookmark, tags: [1] } },
    { template: { ...ok.template, version: 0 } },
    { files: 'x' },
    { format: 'other' },
  ]) refused(() => decodeBookmark('k', Buffer.from(JSON.stringify({ ...ok, ...change }))), /is damaged \(not a bookmark\)/);
  refused(() => decodeBookmark('k', Buffer.from('{')), /not JSON/);
});

test('the names a push checks against: every name of the indexes is there, and no other, even sharing a first four bytes', () => {
  const name = (i: number, tail: string) => `${(i % 3).toString(16).padStart(8, '0')}${tail.repeat(56)}`;
  const names = Array.from({ length: 200 }, (_, i) => name(i, (i % 16).toString(16)));
  const indexes = [encodePackIndex(names.slice(0, 150).map((n, i) => ({ id: n, offset: i, length: 1, compressed: false }))),
    encodePackIndex(names.slice(150).map((n, i) => ({ id: n, offset: i, length: 1, compressed: true })))];
  for (const body of indexes) checkPackIndex('p', body);
  const set = new ChunkNames(indexes);
  for (const n of names) assert.ok(set.has(n), n);
  for (const n of [name(4, 'f').replace(/f$/, 'e'), name(0, '0').replace(/^0/, '1'), 'f'.repeat(64)]) assert.ok(!set.has(n), n);
  assert.ok(!new ChunkNames([]).has(names[0]));
  const torn = Buffer.from(indexes[0]);
  torn[60] ^= 1;
  refused(() => checkPackIndex('p', torn), /torn or damaged/);
});

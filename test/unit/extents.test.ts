import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkPlaces, FilefragParser, parseFilefrag, sameChunks, toRuns, type Extent, type Runs } from '../../server/engine/volumes/extents';

/** Issue 15: a folder driver's push takes a chunk's id unread only where both snapshots' files
 *  hold it on the same physical bytes. filefrag -v -b1 output as seen on btrfs and XFS. */
const BTRFS = `Filesystem type is: 9123683e
File size of s1/f is 2621440 (2621440 blocks of 1 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:        0.. 2621439:   13631488..  16252927: 2621440:             last,shared,eof
s1/f: 1 extent found
Filesystem type is: 9123683e
File size of s2/f is 2621440 (2621440 blocks of 1 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:        0..  327679:   13631488..  13959167: 327680:             shared
   1:   327680..  393215:   63963136..  64028671:  65536:   13959168: shared
   2:   393216.. 2621439:   14024704..  16252927: 2228224:   64028672: last,shared,eof
s2/f: 3 extents found
Filesystem type is: 9123683e
File size of v/tiny is 6 (4096 block of 1 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:        0..    4095:          0..         0:      0:             last,unknown_loc,delalloc,eof
v/tiny: 1 extent found
`;

test('filefrag output: extents in bytes per file, in the order asked, joined into runs; anything unsure is no answer', () => {
  const [s1, s2, tiny, missing] = parseFilefrag(BTRFS, ['s1/f', 's2/f', 'v/tiny', 'gone']);
  assert.deepEqual(s1, Float64Array.from([0, 13631488, 2621440]));
  assert.deepEqual(s2, Float64Array.from([0, 13631488, 327680, 327680, 63963136, 65536, 393216, 14024704, 2228224]));
  assert.equal(tiny, undefined, 'delalloc: not on disk yet');
  assert.equal(missing, undefined, 'filefrag said nothing of it');
  assert.deepEqual(parseFilefrag('', ['a']), [undefined], 'no filefrag at all');
  // The output arrives in pieces cut anywhere, even inside a number or a line break.
  for (const size of [1, 7, 64]) {
    const parser = new FilefragParser();
    const bytes = Buffer.from(BTRFS);
    for (let at = 0; at < bytes.length; at += size) parser.write(bytes.subarray(at, at + size));
    parser.end();
    assert.deepEqual([parser.runs.get('s1/f'), parser.runs.get('s2/f'), parser.runs.get('v/tiny')], [s1, s2, undefined], `pieces of ${size}`);
  }
});

const runsOf = (x: Runs | readonly Extent[] | undefined) => (x === undefined || x instanceof Float64Array ? x : toRuns(x));

/** The chunks of `b` on the same bytes as the chunk at the same place of `a` (a file both
 *  snapshots have), and the same found by place alone (a renamed file), which must agree. */
const sharedOf = (a: Runs | readonly Extent[] | undefined, b: Runs | readonly Extent[] | undefined, size: number, bSize = size) => {
  const same = sameChunks(runsOf(a), size, runsOf(b), bSize);
  const places = chunkPlaces(runsOf(a), size);
  const byPlace = [...chunkPlaces(runsOf(b), bSize)].filter(([place, index]) => places.get(place) === index).map(([, index]) => index).sort((x, y) => x - y);
  assert.deepEqual(same, byPlace, 'compared in place and looked up by place');
  return same;
};

test('shared chunks: the ones on the same physical bytes, whole, in both files', () => {
  const [s1, s2] = parseFilefrag(BTRFS, ['s1/f', 's2/f']);
  const all = Array.from({ length: 40 }, (_, i) => i);
  assert.deepEqual(sharedOf(s1, s2, 2621440), all.filter((i) => i !== 5), 'chunk 5 (327680..393215) was rewritten');
  assert.deepEqual(sharedOf(s1, s2, 2621440, 2621440 - 1), all.filter((i) => i !== 5 && i !== 39), 'a last chunk of another length is not the same');
  assert.deepEqual(sharedOf(s1, s2, 2621440 - 1, 2621440 - 1), all.filter((i) => i !== 5), 'a short last chunk on the same bytes is');
  assert.deepEqual(sharedOf(s1, undefined, 2621440), []);
  // Split in two extents that continue each other on disk: still one run of the same bytes.
  const split = [{ logical: 0, physical: 13631488, length: 100_000 }, { logical: 100_000, physical: 13631488 + 100_000, length: 2621440 - 100_000 }];
  assert.deepEqual(sharedOf(s1, split, 2621440), all);
  // Split with a gap on disk: the chunk across the gap is read.
  const gap = [{ logical: 0, physical: 13631488, length: 100_000 }, { logical: 100_000, physical: 99_000_000, length: 2621440 - 100_000 }];
  assert.deepEqual(sharedOf(s1, gap, 2621440), [0]);
  // A renamed file (a recycled WAL segment): its chunks are found by where they are on disk.
  const places = chunkPlaces(s1, 2621440);
  assert.equal(places.size, 40);
  assert.equal(places.get(`${13631488 + 5 * 65536}+65536`), 5);
  // A small file in one block: its only chunk, short, found by where it is and how long.
  assert.deepEqual([...chunkPlaces(toRuns([{ logical: 0, physical: 8192, length: 4096 }]), 6)], [['8192+6', 0]]);
  // A file a scattered update rewrote page by page: chunks across many small extents, the same
  // in a later snapshot that shares them, and a hole (no extent) is never a place.
  const pages = Array.from({ length: 32 }, (_, i) => ({ logical: i * 8192, physical: (i % 2 ? 9_000_000 : 1_000_000) + i * 8192, length: 8192 }));
  assert.deepEqual(sharedOf(pages, [...pages].reverse(), 32 * 8192), [0, 1, 2, 3]);
  assert.equal(chunkPlaces(toRuns(pages), 32 * 8192).get(pages.slice(0, 8).map((p) => `${p.physical}+8192`).join(',')), 0);
  assert.deepEqual(sharedOf(pages, pages.filter((_, i) => i !== 9), 32 * 8192), [0, 2, 3], 'chunk 1 has a hole');
});

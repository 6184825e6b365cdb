/** server/engine/volumes/compaction.ts: counting the contiguous pieces of a file from `filefrag -v`. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { contiguousPieces } from '../../server/engine/volumes/compaction';

const header = `Filesystem type is: 58465342
File size of base/5/16392 is 1073741824 (262144 blocks of 4096 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
`;

test('extents split only by the shared flag are one contiguous piece', () => {
  // The template after branches changed some pages: physically contiguous, shared and not by turns.
  const out = header + `   0:        0..       1:    2621520..   2621521:      2:             shared
   1:        2..       3:    2621522..   2621523:      2:
   2:        4..       7:    2621524..   2621527:      4:             shared
   3:        8..  262143:    2621528..   2883663: 262136:             last,eof
base/5/16392: 4 extents found
`;
  assert.equal(contiguousPieces(out), 1);
});

test('each jump of the physical block starts a piece', () => {
  const out = header + `   0:        0..       1:    2621520..   2621521:      2:             shared
   1:        2..       3:         26..        27:      2:    2621522: shared
   2:        4..       5:    2621524..   2621525:      2:         28: shared
   3:        6..       9:    2621526..   2621529:      4:
   4:       10..262143:       30..   262163: 262134:    2621530: last,eof
base/5/16392: 5 extents found
`;
  assert.equal(contiguousPieces(out), 4);
});

test('an empty file, or output that is not filefrag\'s, has no pieces', () => {
  assert.equal(contiguousPieces(header + 'base/5/1: 0 extents found\n'), 0);
  assert.equal(contiguousPieces('filefrag: Operation not supported\n'), 0);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { journalSnapshots, readJournalEntry } from '../../server/engine/journal';
import type { StoredJournalEntry } from '../../server/engine/records';

const entry = (op: string, data: Record<string, unknown>, step = 'begin'): StoredJournalEntry =>
  ({ id: 'op_1', op, startedAt: '2025-01-01T00:00:00.000Z', step, data });

test('an entry as the previous engine stored it reads as its operation\'s record', () => {
  const stored = entry('restore', {
    containerId: 'ctr_1', branchId: 'br_1', snapshotId: 'snap_1', event: 'restored', oldVolumeId: 'vol_1',
    newVolumeId: 'vol_2', fromSpare: false, templateVersion: undefined, detail: undefined, bookmarkId: 'bm_1', bookmarkName: 'b',
  }, 'switched');
  const read = readJournalEntry(stored);
  assert.ok('rec' in read);
  assert.equal(read.rec, stored, 'the stored object itself, unchanged');
});

test('an entry missing a field, or of an unknown operation, says what is wrong', () => {
  const missing = readJournalEntry(entry('activate', { containerId: 'ctr_1', fromId: 'br_1' }));
  assert.deepEqual(missing, { problem: 'its toId is missing' });
  const wrong = readJournalEntry(entry('container-create', { containerId: 'ctr_1', volumeId: 'vol_1', port: '5432' }));
  assert.deepEqual(wrong, { problem: 'its port is not a number' });
  assert.ok('problem' in readJournalEntry(entry('cold-freeze', { containerId: 'ctr_1' })));
});

test('the snapshots an entry holds are read from its operation\'s snapshot fields', () => {
  assert.deepEqual(journalSnapshots(entry('branch-delete', {
    containerId: 'ctr_1', volumeId: 'vol_1', baseSnapshotId: 'snap_a', spareVolumeId: 'vol_2', spareSnapshotId: 'snap_b',
  })), ['snap_a', 'snap_b']);
  // A 0.1 activate (before upgrade.ts finishes it) keeps its capture.
  assert.deepEqual(journalSnapshots(entry('activate', { containerId: 'c', fromId: 'a', toId: 'b', captureId: 'snap_c' }, 'captured')), ['snap_c']);
  assert.deepEqual(journalSnapshots(entry('unknown-op', { snapshotId: 'snap_d' })), []);
});

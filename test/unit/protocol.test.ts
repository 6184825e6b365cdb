import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JournalOp } from '../../server/engine/journal';
import { operations, recoveries } from '../../server/engine/operations';
import { allRequests, ErrorCodes } from '../../server/protocol';

test('every protocol request has exactly one engine operation, and nothing else is served', () => {
  const served = operations.map((o) => o.method).sort();
  const defined = allRequests.map((r) => r.method).sort();
  assert.deepEqual(served, defined);
});

test('error codes are unique', () => {
  const values = Object.values(ErrorCodes);
  assert.equal(new Set(values).size, values.length);
});

test('every journaled operation can be recovered', () => {
  for (const op of <JournalOp[]>['template-create', 'template-refresh', 'container-create', 'container-delete', 'branch-snapshot',
    'bookmark-create', 'activate', 'restore', 'reset', 'refresh']) {
    assert.equal(typeof recoveries[op], 'function', op);
  }
});

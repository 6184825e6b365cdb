/**
 * Named fault points for crash tests. When SLIPSTREAM_FAULT names a point,
 * the engine kills itself with SIGKILL the moment it gets there, exactly as a
 * power cut or `kill -9` would, so tests can prove recovery at that step.
 * When SLIPSTREAM_STALL names it, the operation waits there instead
 * (SLIPSTREAM_STALL_MS, default 10 s), so a test can stop the engine while an
 * operation is half-way.
 */
export type FaultPoint =
  | 'template-build:after-snapshot'
  | 'container-create:after-clone'
  | 'bookmark-create:after-snapshot'
  // A switch: the old database is down and the target recorded active, then the target runs.
  | 'activate:after-stop'
  | 'activate:after-start'
  // The switch's background checkpoint (checkpoints.ts): the left branch's server runs with no port.
  | 'checkpoint:after-start'
  // A restore, reset or refresh: the new volume is built while the old database runs, then
  // the result is recorded while the old volume still exists.
  | 'rewind:after-clone'
  | 'rewind:after-commit'
  // A spare (spares.ts): built in the background, before the branch records it, and a
  // restore that took a ready spare, before anything stopped.
  | 'spare:after-clone'
  | 'spare:before-swap'
  // A reflink snapshot's compaction (volumes/compaction.ts), in the background: a file's
  // contiguous copy is written and synced, not yet renamed over the original.
  | 'compact:before-rename'
  // A dehydration (coldBranches.ts), in the background: the snapshot is taken (ahead, too), then
  // the branch records it while its volume still exists. And the activation of a cold branch: its
  // volume (new, or taken from a ready branch) is written, before anything stopped.
  | 'dehydrate:after-capture'
  | 'dehydrate:after-commit'
  | 'materialise:after-clone'
  | 'branch-snapshot:after-capture'
  | 'branch-create:after-clone'
  | 'container-delete:after-forget'
  | 'load:before-start'
  // A point-in-time restore's first start: PostgreSQL is replaying the archived WAL.
  | 'replay:during'
  // A pool image (poolImage.ts): made whole but not mounted, and mounted before the
  // settings of the home record it. The engine dies while starting, so poolImage.test.ts
  // runs these.
  | 'pool-image:after-make'
  | 'pool-image:after-mount'
  | 'start:before-sanitise'
  // The two volume points sit inside the file work of the blocks and reflink drivers,
  // where a test swaps a file as a program of the tenant would, to prove nothing is followed.
  | 'volume:after-scan'
  | 'volume:before-write'
  // A blocks capture's pack is written and fsynced, its index not yet: nothing names it.
  | 'chunks:before-index'
  // A pull (operations/bookmarkPull.ts): its snapshots are taken, no record names them yet.
  | 'bookmark-pull:after-capture';

export async function faultPoint(point: FaultPoint): Promise<void> {
  if (process.env.SLIPSTREAM_FAULT === point) process.kill(process.pid, 'SIGKILL');
  if (process.env.SLIPSTREAM_STALL === point) {
    process.stderr.write(`fault point ${point}: stalling\n`);
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.SLIPSTREAM_STALL_MS) || 10_000));
  }
}

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
  | 'activate:after-capture'
  | 'activate:after-load'
  | 'rewind:after-load'
  | 'branch-snapshot:after-capture'
  | 'container-delete:after-forget'
  | 'load:before-start'
  | 'start:before-sanitise'
  // The two volume points sit inside the file work of the blocks and reflink drivers,
  // where a test swaps a file as a program of the tenant would, to prove nothing is followed.
  | 'volume:after-scan'
  | 'volume:before-write';

export async function faultPoint(point: FaultPoint): Promise<void> {
  if (process.env.SLIPSTREAM_FAULT === point) process.kill(process.pid, 'SIGKILL');
  if (process.env.SLIPSTREAM_STALL === point) {
    process.stderr.write(`fault point ${point}: stalling\n`);
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.SLIPSTREAM_STALL_MS) || 10_000));
  }
}

/**
 * Named fault points for crash tests. When SLIPSTREAM_FAULT names a point,
 * the engine kills itself with SIGKILL the moment it gets there, exactly as a
 * power cut or `kill -9` would, so tests can prove recovery at that step.
 */
export type FaultPoint =
  | 'template-build:after-snapshot'
  | 'container-create:after-clone'
  | 'bookmark-create:after-snapshot'
  | 'activate:after-capture'
  | 'activate:after-load'
  | 'rewind:after-load'
  | 'branch-snapshot:after-capture'
  | 'container-delete:after-forget';

export function faultPoint(point: FaultPoint): void {
  if (process.env.SLIPSTREAM_FAULT === point) process.kill(process.pid, 'SIGKILL');
}

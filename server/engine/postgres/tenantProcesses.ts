import { spawn } from 'child_process';
import * as fs from 'fs';
import { EngineError } from '../errors';

/**
 * Ending every process of a container's OS user.
 *
 * A container's database superuser can start programs as the container's OS user
 * (`COPY … TO PROGRAM`, detached with setsid) that outlive its database. While
 * the engine works as root in that container's volume (a bookmark, a restore, a
 * delete), such a program could swap files for symlinks under it. So once a
 * database is stopped, nothing else of its user may run: the engine asks the
 * kernel to kill everything that user owns, with kill(-1, SIGKILL) sent *as* that
 * user. kill(-1) reaches exactly the processes that user may signal, its own, and
 * never the sender itself. A cgroup per container would do the same; one OS user
 * id per container makes the uid as exact without needing cgroup delegation.
 *
 * Only for a container with an OS user id of its own: a shared user (an engine
 * run by an ordinary user, or the fallback `slipstream` user) runs other
 * containers' databases too.
 */

const ATTEMPTS = 50;
const PAUSE_MS = 100;

/** Kill every process of `uid` and wait until none is left. Returns how many there were. */
export async function endTenantProcesses(uid: number, container: string): Promise<number> {
  const first = await processesOf(uid);
  if (first.length === 0) return 0;
  for (let i = 0; i < ATTEMPTS; i++) {
    await killAllAs(uid);
    await new Promise((r) => setTimeout(r, PAUSE_MS));
    if ((await processesOf(uid)).length === 0) return first.length;
  }
  const left = await processesOf(uid);
  throw new EngineError('Busy', `programs of container "${container}"'s OS user (uid ${uid}; pids ${left.slice(0, 10).join(', ')}) `
    + 'would not end, so the engine will not work in its data. Find them with `ps -u ' + uid + '`, end them, then run the operation again.');
}

/** Live (not zombie) processes whose real, effective or saved user id is `uid`. */
export async function processesOf(uid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await fs.promises.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = await fs.promises.readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    if (!uids || state === 'Z' || state === 'X') continue;
    if ([uids[1], uids[2], uids[3]].some((u) => Number(u) === uid)) pids.push(Number(name));
  }
  return pids;
}

/** kill(-1, SIGKILL) as `uid`: a tiny child that drops to that user first. */
function killAllAs(uid: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', 'try { process.kill(-1, "SIGKILL") } catch {}'], {
      uid, gid: uid, stdio: 'ignore', env: {}, cwd: '/',
    });
    child.on('error', (err) => reject(new EngineError('DatabaseFailed', `could not end the programs of OS user ${uid}: ${err.message}`)));
    child.on('close', () => resolve());
  });
}

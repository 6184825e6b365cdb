import * as fs from 'fs';
import { EngineError } from './errors';

/**
 * One engine per home. The lock file holds the owner's pid; it is created
 * with O_EXCL so two engines starting at once cannot both win. A lock left by
 * a killed engine (its pid is gone) is taken over.
 */
export function acquireHomeLock(lockPath: string, home: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(lockPath, 'wx', 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return () => releaseIfMine(lockPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = readPid(lockPath);
      if (pid && pid !== process.pid && alive(pid)) {
        throw new EngineError('Busy', `another engine (pid ${pid}) is already running on ${home}. Use it, or stop it with: slipstream --home ${home} engine stop`);
      }
      fs.rmSync(lockPath, { force: true }); // stale: its engine is gone
    }
  }
  throw new EngineError('Busy', `could not take the lock ${lockPath}; another engine may be starting on ${home}.`);
}

function releaseIfMine(lockPath: string): void {
  if (readPid(lockPath) === process.pid) fs.rmSync(lockPath, { force: true });
}

function readPid(lockPath: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(lockPath, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** A killed engine can linger as a zombie until its parent reaps it; that is not alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

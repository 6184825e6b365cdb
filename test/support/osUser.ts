import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI, CliRunner, FIXTURES, type CliResult } from './engine';

/**
 * An ordinary OS user (made with useradd) running the real CLI and engine (runuser), for
 * suites that must prove the engine works without root. Only root can switch to it: without
 * root the whole suite already runs as an ordinary user, and `ordinaryUserSkip` says so.
 */
export const ORDINARY_USER = 'slipstream-laptop';

export function ordinaryUserSkip(): string | false {
  if (process.getuid?.() !== 0) return 'the engine already runs as an ordinary user in every other suite here (this one switches from root to one)';
  if (spawnSync('runuser', ['--help']).error) return 'runuser (util-linux) is missing';
  return false;
}

/** The real CLI, run as the ordinary user with a home of its own. */
export class AsUser extends CliRunner {
  constructor(readonly home: string) {
    super();
  }

  protected override who(): string {
    return ` (as ${ORDINARY_USER})`;
  }

  cli(...args: string[]): CliResult {
    return this.cliWith({}, ...args);
  }

  /** The CLI with extra environment (`engine start` passes it on to the daemon). */
  cliWith(env: Record<string, string>, ...args: string[]): CliResult {
    const r = spawnSync('runuser', ['-u', ORDINARY_USER, '--', process.execPath, CLI, '--home', this.home, '--json', ...args], {
      encoding: 'utf8', timeout: 300_000, cwd: path.dirname(this.home),
      env: { ...process.env, SLIPSTREAM_HOME: '', SLIPSTREAM_ENGINE: '', HOME: this.home, ...env },
    });
    let json: unknown;
    try { json = JSON.parse(r.stdout); } catch { json = undefined; }
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  }
}

/** The ordinary user's ids, made with useradd if missing (root only). */
export function ensureOrdinaryUser(): { uid: number; gid: number } {
  if (spawnSync('id', ['-u', ORDINARY_USER]).status !== 0) {
    const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', ORDINARY_USER], { encoding: 'utf8' });
    assert.equal(r.status, 0, `useradd: ${r.stderr}`);
  }
  const uid = Number(spawnSync('id', ['-u', ORDINARY_USER], { encoding: 'utf8' }).stdout);
  const gid = Number(spawnSync('id', ['-g', ORDINARY_USER], { encoding: 'utf8' }).stdout);
  return { uid, gid };
}

/** Make the user if missing, and a folder it owns with a copy of employees.sql; the runner's
 *  home is `home` inside it. */
export function ordinaryUserSite(): { dir: string; me: AsUser; uid: number } {
  const { uid, gid } = ensureOrdinaryUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-laptop-'));
  fs.chmodSync(dir, 0o755);
  fs.copyFileSync(path.join(FIXTURES, 'employees.sql'), path.join(dir, 'employees.sql'));
  fs.chownSync(dir, uid, gid);
  fs.chownSync(path.join(dir, 'employees.sql'), uid, gid);
  const me = new AsUser(path.join(dir, 'home'));
  const reach = me.cli('--help');
  assert.equal(reach.code, 0, `${ORDINARY_USER} cannot run ${CLI}: ${reach.stderr}`);
  return { dir, me, uid };
}

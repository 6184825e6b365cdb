/**
 * Finding a program: the engine's system tools (btrfs, mkfs, mount, sync), its
 * PostgreSQL client tools (pg_dump, pg_restore), the PostgreSQL server binaries,
 * and the extension's Node.js for the engine.
 *
 * Each had its own search, and they disagreed on what counts as found: one took
 * any path with the execute bit (a directory has it), one any path that
 * existed (a file without the execute bit then failed later, less clearly),
 * two wanted an executable regular file. The rule is now that last one, here.
 */
import * as fs from 'fs';
import * as path from 'path';

/** Where root's system tools live: its sbin directories are often missing from PATH
 *  (sudo, cron, a service manager), so they are searched before it. */
export const SYSTEM_BIN_DIRS: readonly string[] = ['/sbin', '/usr/sbin', '/bin', '/usr/bin'];

export interface ExecutableSearch {
  /** Directories searched first, in order. */
  before?: readonly string[];
  /** The PATH to search after them (default: this process's). */
  pathEnv?: string;
  /** Windows names programs NAME.exe (default: this process's platform). */
  platform?: NodeJS.Platform;
}

/** A regular file (after symlinks) that this process may execute. */
export function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The directories searched, in order: `before`, then PATH's non-empty entries. */
export function searchDirs(search: ExecutableSearch = {}): string[] {
  const pathEnv = search.pathEnv ?? process.env.PATH ?? '';
  return [...(search.before ?? []), ...pathEnv.split(path.delimiter).filter(Boolean)];
}

/** The first executable file named `name` in searchDirs(search), or undefined. */
export function findExecutable(name: string, search: ExecutableSearch = {}): string | undefined {
  const file = (search.platform ?? process.platform) === 'win32' && !name.toLowerCase().endsWith('.exe') ? `${name}.exe` : name;
  for (const dir of searchDirs(search)) {
    const candidate = path.join(dir, file);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** A system tool (btrfs, mkfs.xfs, mount, sync): SYSTEM_BIN_DIRS, then PATH. */
export function findSystemTool(name: string): string | undefined {
  return findExecutable(name, { before: SYSTEM_BIN_DIRS });
}

/** "in /a, /b or on PATH (/usr/bin:/bin)", for "not found" messages. */
export function whereWeLooked(search: ExecutableSearch = {}): string {
  const before = search.before?.length ? `in ${search.before.join(', ')} or ` : '';
  return `${before}on PATH (${(search.pathEnv ?? process.env.PATH) || 'empty'})`;
}

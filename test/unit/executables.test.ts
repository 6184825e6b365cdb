/** server/common/executables.ts: the one rule for finding a program (issue 14), on real files. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  findExecutable,
  findSystemTool,
  isExecutableFile,
  searchDirs,
  SYSTEM_BIN_DIRS,
  whereWeLooked,
} from '../../server/common/executables';

function scratch(): { dir: string; make(rel: string, mode: number): string; done(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-exe-'));
  return {
    dir,
    make(rel, mode) {
      const file = path.join(dir, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode });
      fs.chmodSync(file, mode);
      return file;
    },
    done: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

test('an executable is a regular file with the execute bit: not a directory, not a plain file, not a dangling link', () => {
  const s = scratch();
  try {
    const tool = s.make('bin/tool', 0o755);
    const plain = s.make('bin/plain', 0o644);
    fs.mkdirSync(path.join(s.dir, 'bin', 'adir'), { mode: 0o755 });
    fs.symlinkSync(tool, path.join(s.dir, 'bin', 'link'));
    fs.symlinkSync(path.join(s.dir, 'gone'), path.join(s.dir, 'bin', 'dangling'));
    assert.equal(isExecutableFile(tool), true);
    assert.equal(isExecutableFile(path.join(s.dir, 'bin', 'link')), true, 'a link to an executable counts');
    assert.equal(isExecutableFile(plain), false);
    assert.equal(isExecutableFile(path.join(s.dir, 'bin', 'adir')), false, 'a directory has the execute bit but is no program');
    assert.equal(isExecutableFile(path.join(s.dir, 'bin', 'dangling')), false);
    assert.equal(isExecutableFile(path.join(s.dir, 'missing')), false);
    assert.equal(isExecutableFile(''), false);
  } finally {
    s.done();
  }
});

test('the search: the given directories first, then PATH, first match wins, skipping what is not executable', () => {
  const s = scratch();
  try {
    const first = path.join(s.dir, 'first');
    const second = path.join(s.dir, 'second');
    const onPath = path.join(s.dir, 'onpath');
    s.make('first/pg_dump', 0o644); // not executable: skipped
    fs.mkdirSync(path.join(second, 'pg_dump'), { recursive: true }); // a directory: skipped
    const real = s.make('onpath/pg_dump', 0o755);
    const mine = s.make('second/pg_restore', 0o755);
    s.make('onpath/pg_restore', 0o755);
    const pathEnv = ['', '/nonexistent', onPath].join(path.delimiter);
    assert.deepEqual(searchDirs({ before: [first, second], pathEnv }), [first, second, '/nonexistent', onPath]);
    assert.equal(findExecutable('pg_dump', { before: [first, second], pathEnv }), real);
    assert.equal(findExecutable('pg_restore', { before: [first, second], pathEnv }), mine, 'the given directories beat PATH');
    assert.equal(findExecutable('psql', { before: [first, second], pathEnv }), undefined);
    assert.equal(findExecutable('pg_dump', { pathEnv: '' }), undefined, 'an empty PATH finds nothing');
    assert.equal(whereWeLooked({ before: [first, second], pathEnv }), `in ${first}, ${second} or on PATH (${pathEnv})`);
    assert.equal(whereWeLooked({ pathEnv: '' }), 'on PATH (empty)');
  } finally {
    s.done();
  }
});

test('Windows names programs NAME.exe', () => {
  const s = scratch();
  try {
    const exe = s.make('node.exe', 0o755);
    assert.equal(findExecutable('node', { pathEnv: s.dir, platform: 'win32' }), exe);
    assert.equal(findExecutable('node', { pathEnv: s.dir, platform: 'linux' }), undefined);
  } finally {
    s.done();
  }
});

test('system tools: sbin and bin before PATH, so root finds them from cron or sudo', () => {
  assert.deepEqual(SYSTEM_BIN_DIRS, ['/sbin', '/usr/sbin', '/bin', '/usr/bin']);
  const old = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const sh = findSystemTool('sh');
    assert.ok(sh && SYSTEM_BIN_DIRS.includes(path.dirname(sh)), `sh found outside PATH: ${sh}`);
    assert.equal(findSystemTool('no-such-tool-here'), undefined);
  } finally {
    process.env.PATH = old;
  }
});

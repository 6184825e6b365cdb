// Runs the compiled test files (out/**/*.test.js) with node's test runner, one file
// at a time. Node 20's `--test DIR` would also run every .js under a folder named
// test (support modules, the benchmark), so the files are listed explicitly.
// Usage: node scripts/test.mjs [DIR or FILE...]   (default: out/test)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function testFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  if (fs.statSync(dir).isFile()) return [dir];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(full);
    return entry.name.endsWith('.test.js') ? [full] : [];
  }).sort();
}

const dirs = process.argv.slice(2);
const files = (dirs.length ? dirs : ['out/test']).flatMap(testFiles);
if (files.length === 0) {
  console.error(`no test files under ${dirs.join(', ') || 'out/test'}; run npm run build first`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);

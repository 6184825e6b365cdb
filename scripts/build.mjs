// Bundles what ships: dist/cli.js (the `slipstream` CLI, which also runs the engine
// daemon with `slipstream engine run`). Dependencies stay external: lmdb and the
// embedded PostgreSQL are native and must be loaded from node_modules.
import { build } from 'esbuild';
import { chmodSync } from 'fs';

await build({
  entryPoints: { cli: 'server/cli/index.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
chmodSync('dist/cli.js', 0o755);

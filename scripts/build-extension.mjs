// Bundles the VS Code extension and its timeline webview:
//   dist/extension.js  extension/extension.ts for VS Code's extension host
//                      (`vscode` is provided by VS Code; everything else, including
//                      vscode-jsonrpc and the shared client, is bundled in)
//   dist/webview.js    webview/main.ts for the browser inside the timeline panel
// Type checking is done by `tsc -p extension` and `tsc -p webview` before this runs.
import { build } from 'esbuild';

await Promise.all([
  build({
    entryPoints: { extension: 'extension/extension.ts' },
    outdir: 'dist',
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['vscode'],
    sourcemap: true,
    logLevel: 'warning',
  }),
  build({
    entryPoints: { webview: 'webview/main.ts' },
    outdir: 'dist',
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: true,
    logLevel: 'warning',
  }),
]);

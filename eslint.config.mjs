// The lint gate: the folder table of docs/architecture.md ("Folders": who may
// import what), enforced. Nothing else: no style rule sets. `npm run lint` runs
// it and `npm test` runs that first; test/unit/lintGate.test.ts shows it bites.
//
// "may import" names the project's own folders. npm packages and Node's
// built-ins are free, except `vscode` (and server/protocol.ts, which takes
// `vscode-jsonrpc` only). The patterns match the import as written, so each is
// anchored on the relative path a file in that folder would write.
// A dynamic `import()` is not checked: the CLI reaches the daemon through one
// (`await import('../engine/main.js')` in server/cli/engine.ts).
import tseslint from 'typescript-eslint';

const doc = 'docs/architecture.md, "Folders"';

/** One folder's rule: `@typescript-eslint/no-restricted-imports` (it also sees `import type`). */
function folder(files, patterns, ignores = []) {
  return {
    files,
    ignores,
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: patterns.map(([regex, why]) => ({ regex, message: `${why} (${doc}).` })),
      }],
    },
  };
}

const vscode = ['^vscode$', 'only extension/vscode/ and extension/extension.ts import vscode'];

const extension = [
  ['^(\\.\\./)+server/(?!protocol$|common/)', 'the extension may import server/protocol.ts and server/common/ only, never server/engine or server/cli'],
  ['^(\\.\\./)+webview/(?!protocol$)', 'of the webview, the extension may import webview/protocol.ts only'],
];

export default [
  { ignores: ['out/**', 'dist/**', 'node_modules/**', '.*/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    // Directives left for other tools' rules (no-control-regex) are not this gate's business.
    linterOptions: { reportUnusedDisableDirectives: 'off' },
  },

  // server/protocol.ts: vscode-jsonrpc only.
  folder(['server/protocol.ts'], [
    ['^(?!vscode-jsonrpc(/|$))', 'server/protocol.ts may import vscode-jsonrpc only'],
  ]),

  // server/common/: protocol.
  folder(['server/common/**/*.ts'], [
    vscode,
    ['^\\.\\./(?!protocol$)', 'server/common/ may import server/protocol.ts only, outside itself'],
  ]),

  // server/engine/: never vscode, and never the hooks (they are the user's commands, run by the
  // user's clients; the engine may be a root or team engine) nor slipstream.json, which holds them.
  folder(['server/engine/**/*.ts'], [
    vscode,
    ['(^|/)common/(hooks|workspaceConfig)$', 'the engine never runs hooks nor reads slipstream.json: the CLI and the extension do, as the user'],
  ]),

  // server/cli/: protocol, common (package.json gives it the extension's id).
  folder(['server/cli/**/*.ts'], [
    vscode,
    ['^\\.\\./(?!protocol$|common/|\\.\\./)', 'server/cli/ may import server/protocol.ts and server/common/ only'],
    ['^\\.\\./\\.\\./(?!package\\.json$)', 'server/cli/ may import server/protocol.ts and server/common/ only'],
  ]),

  // extension/: protocol (server's and the webview's), common; never server/engine.
  // Its pure modules (engine/, model/, commands/, git/, util/) never import vscode.
  folder(['extension/**/*.ts'], [vscode, ...extension], ['extension/vscode/**', 'extension/extension.ts']),
  folder(['extension/vscode/**/*.ts', 'extension/extension.ts'], extension),

  // webview/: protocol, common.
  folder(['webview/**/*.ts'], [
    ['^vscode$', 'the webview runs in a browser and never imports vscode'],
    ['^(\\.\\./)+server/(?!protocol$|common/)', 'webview/ may import server/protocol.ts and server/common/ only, never server/engine or server/cli'],
    ['^(\\.\\./)+extension(/|$)', 'webview/ never imports the extension'],
  ]),
];

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

/** The lint gate (eslint.config.mjs) bites: an import against docs/architecture.md's folder table is an error. */
const root = path.resolve(__dirname, '../../..');
const eslint = new ESLint({ cwd: root, overrideConfigFile: path.join(root, 'eslint.config.mjs') });
const RULE = '@typescript-eslint/no-restricted-imports';

async function refusals(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, filePath) });
  assert.ok(result, `eslint linted ${filePath}`);
  return result.messages.map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

test('server/ never imports vscode', async () => {
  for (const file of ['server/engine/x.ts', 'server/engine/operations/x.ts', 'server/cli/x.ts', 'server/common/x.ts']) {
    const found = await refusals(file, "import * as vscode from 'vscode';\nexport const v = vscode;\n");
    assert.equal(found.length, 1, `${file}: ${found.join('; ')}`);
    assert.ok(found[0]!.startsWith(`${RULE}: `) && found[0]!.includes('docs/architecture.md'), found[0]);
  }
});

test('the webview never imports server/engine, and the extension neither', async () => {
  const webview = await refusals('webview/x.ts', "import { Engine } from '../server/engine/engine';\nexport type E = Engine;\n");
  assert.equal(webview.length, 1, webview.join('; '));
  assert.match(webview[0]!, /^@typescript-eslint\/no-restricted-imports: .*webview\/ may import .*never server\/engine/);
  const extension = await refusals('extension/commands/x.ts', "import type { Engine } from '../../server/engine/engine';\nexport type E = Engine;\n");
  assert.equal(extension.length, 1, extension.join('; '));
  assert.match(extension[0]!, /never server\/engine/);
});

test('the rest of the folder table', async () => {
  const refused: Array<[string, string]> = [
    ['extension/model/x.ts', "import * as vscode from 'vscode';"],
    ['extension/extension.ts', "import { main } from '../webview/main';"],
    ['server/cli/x.ts', "import { runEngine } from '../engine/main.js';"],
    ['server/common/x.ts', "import { Engine } from '../engine/engine';"],
    ['server/protocol.ts', "import { NAME_MAX } from './common/names';"],
    ['server/engine/operations/x.ts', "import { runHooks } from '../../common/hooks';"],
    ['server/engine/x.ts', "import { readWorkspaceConfig } from '../common/workspaceConfig';"],
  ];
  for (const [file, code] of refused) assert.equal((await refusals(file, code)).length, 1, `${file}: ${code}`);
  const allowed: Array<[string, string]> = [
    ['extension/vscode/x.ts', "import * as vscode from 'vscode';"],
    ['extension/commands/x.ts', "import { BranchListRequest } from '../../server/protocol';\nimport { nameProblem } from '../../server/common/names';\nimport type { ToWebview } from '../../webview/protocol';"],
    ['webview/x.ts', "import type { EventKind } from '../server/protocol';"],
    ['server/cli/x.ts', "import { ClientError } from '../common/client';\nimport { name } from '../../package.json';\nconst daemon = () => import('../engine/main.js');"],
    ['server/engine/operations/x.ts', "import { nameProblem } from '../../common/names';\nimport { Engine } from '../engine';"],
    ['server/protocol.ts', "import { RequestType } from 'vscode-jsonrpc';"],
  ];
  for (const [file, code] of allowed) assert.deepEqual(await refusals(file, code), [], `${file}: ${code}`);
});

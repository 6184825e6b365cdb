/**
 * The extension's package.json against its code, without VS Code: every
 * contributed command has a handler and every handler is contributed; menus,
 * welcome views and the walkthrough name only real commands; every
 * `slipstream.*` context key they read is one the extension sets; the
 * walkthrough's media exist and ship in the .vsix.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { commandHandlers, menuCommandIds, menuTwin, windowCommandIds } from '../../extension/commands';
import { contextKeys, contextKeyValues } from '../../extension/model/contextKeys';

const ROOT = path.resolve(__dirname, '../../..');

interface Step { id: string; title: string; description: string; media: { markdown?: string }; completionEvents?: string[] }
interface Pkg {
  contributes: {
    commands: Array<{ command: string; title: string }>;
    menus: Record<string, Array<{ command: string; when?: string; group?: string }>>;
    viewsWelcome: Array<{ contents: string; when?: string }>;
    walkthroughs: Array<{ id: string; steps: Step[] }>;
  };
}

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Pkg;
const contributed = pkg.contributes.commands.map((c) => c.command);
const registered = [...Object.keys(commandHandlers), ...windowCommandIds, ...menuCommandIds.map(menuTwin)];

/** The extension's TypeScript sources, by path relative to the repository. */
function sources(dir = 'extension'): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) for (const [k, v] of sources(rel)) out.set(k, v);
    else if (entry.name.endsWith('.ts')) out.set(rel, fs.readFileSync(path.join(ROOT, rel), 'utf8'));
  }
  return out;
}

/** `command:ID` links in Markdown-ish text (welcome views, step descriptions, step media). */
function commandLinks(text: string): string[] {
  return [...text.matchAll(/\(command:([\w.-]+)/g)].map((m) => m[1]);
}

/** The context keys a `when` clause reads: the left side of each term (`!k`, `k`, `k == v`, `k =~ /re/`, `k in x`). */
function whenKeys(expr: string): string[] {
  return expr.split(/&&|\|\|/).map((term) => term.trim().replace(/^[!(\s]+/, '')
    .split(/\s*(?:===|!==|==|!=|=~|>=|<=|>|<|\snot in\s|\sin\s)\s*/)[0].replace(/[)\s]+$/, ''))
    .filter(Boolean);
}

function difference(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set(a)].filter((x) => !b.includes(x));
}

test('every contributed command has a registered handler, and every registered handler is contributed', () => {
  assert.deepEqual(difference(contributed, registered), [], 'contributed in package.json, but the extension registers no handler');
  assert.deepEqual(difference(registered, contributed), [], 'registered by the extension, but not contributed in package.json');
  assert.equal(new Set(registered).size, registered.length, 'a command id is registered twice (commandHandlers and windowCommandIds)');
  assert.equal(new Set(contributed).size, contributed.length, 'a command is contributed twice');
});

test('a row\'s context menu runs the twins, each titled as its command and hidden from the palette; inline buttons the plain ids', () => {
  const items = pkg.contributes.menus['view/item/context'];
  const twins = new Map<string, string>(menuCommandIds.map((id) => [menuTwin(id), id]));
  const title = (id: string) => pkg.contributes.commands.find((c) => c.command === id)?.title;
  for (const [twin, id] of twins) assert.equal(title(twin), title(id), `${twin} is titled as ${id}`);
  const hidden = pkg.contributes.menus.commandPalette.filter((m) => m.when === 'false').map((m) => m.command);
  assert.deepEqual(difference([...twins.keys()], hidden), [], 'twins shown in the command palette');
  const inline = items.filter((m) => m.group?.startsWith('inline'));
  assert.deepEqual(inline.filter((m) => twins.has(m.command)), [], 'an inline button does not focus its row: it must not run a twin');
  const menu = items.filter((m) => !m.group?.startsWith('inline'));
  assert.deepEqual(menu.filter((m) => m.command in commandHandlers).map((m) => m.command), [],
    'a context-menu entry runs a data command by its plain id: add it to menuCommandIds and use its twin');
  assert.deepEqual(difference([...twins.keys()], menu.map((m) => m.command)), [], 'a twin no context menu uses');
});

test('the extension registers commands only from its two tables', () => {
  const callers = [...sources()].filter(([, text]) => /registerCommand\(/.test(text));
  assert.deepEqual(callers.map(([file]) => file).sort(), ['extension/extension.ts', 'extension/vscode/commands.ts'],
    'registerCommand outside the two tables: add the command to commandHandlers or windowCommandIds instead');
  for (const [file, text] of callers) {
    assert.deepEqual([...text.matchAll(/registerCommand\(\s*['"`]([^'"`]+)/g)].map((m) => m[1]), [],
      `${file} registers a command by a literal id, beside the tables`);
  }
});

test('menus, welcome views and the commands the extension runs name registered commands', () => {
  const inMenus = Object.values(pkg.contributes.menus).flat().map((m) => m.command);
  const inWelcome = pkg.contributes.viewsWelcome.flatMap((v) => commandLinks(v.contents));
  const src = sources();
  const executed = [...src.values()].flatMap((text) => [...text.matchAll(/executeCommand\(\s*'(slipstream\.[\w.]+)'/g)].map((m) => m[1]));
  const timelineActions = [...(src.get('extension/vscode/timelinePanel.ts') ?? '').matchAll(/^\s+\w+: '(slipstream\.[\w.]+)',$/gm)].map((m) => m[1]);
  assert.ok(timelineActions.length >= 5, 'the timeline panel\'s action commands were not found');
  for (const [where, ids] of [['menus', inMenus], ['viewsWelcome', inWelcome], ['executeCommand', executed], ['timeline actions', timelineActions]] as const) {
    assert.deepEqual(difference(ids, registered), [], `${where} name commands that nothing registers`);
    assert.deepEqual(difference(ids, contributed), [], `${where} name commands that package.json does not contribute`);
  }
});

test('every slipstream.* context key that package.json reads is one the extension sets', () => {
  const setBySource = [...sources().values()].flatMap((text) => [...text.matchAll(/'setContext',\s*'([^']+)'/g)].map((m) => m[1]));
  const fromValues = Object.keys(contextKeyValues({ kind: 'connecting' }, { kind: 'local', home: '/h' },
    { connected: false, containers: [], templateCount: 0 }, { bookmarked: false, restored: false, sharedBookmark: false }));
  assert.deepEqual([...new Set([...fromValues, ...setBySource])].sort(), [...contextKeys].sort(),
    'model/contextKeys.ts lists exactly the keys the extension sets');

  const clauses = [
    ...Object.values(pkg.contributes.menus).flat().map((m) => m.when ?? ''),
    ...pkg.contributes.viewsWelcome.map((v) => v.when ?? ''),
    ...pkg.contributes.walkthroughs.flatMap((w) => w.steps.flatMap((s) => (s.completionEvents ?? [])
      .filter((e) => e.startsWith('onContext:')).map((e) => e.slice('onContext:'.length)))),
  ];
  const read = clauses.flatMap(whenKeys).filter((k) => k.startsWith('slipstream.'));
  assert.ok(read.includes('slipstream.hasTemplates'), 'the when-clause parser found nothing');
  assert.deepEqual(difference(read, contextKeys), [], 'package.json reads context keys the extension never sets');
});

test('the walkthrough: 4–6 steps, each with a button, media that exist and ship, and completion on real keys or commands', () => {
  assert.equal(pkg.contributes.walkthroughs.length, 1);
  const [walkthrough] = pkg.contributes.walkthroughs;
  assert.ok(walkthrough.steps.length >= 4 && walkthrough.steps.length <= 6, `${walkthrough.steps.length} steps`);
  const ignore = fs.readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8').split('\n').map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const step of walkthrough.steps) {
    const buttons = commandLinks(step.description);
    assert.ok(buttons.length > 0, `step ${step.id} has no command button`);
    assert.deepEqual(difference(buttons, contributed), [], `step ${step.id} links commands that are not contributed`);

    // Without completion events VS Code would count a click on the button as done, whatever came of it.
    const events = step.completionEvents ?? [];
    assert.ok(events.length > 0, `step ${step.id} has no completion event`);
    for (const event of events) {
      const [, kind, arg] = /^(\w+):(.*)$/.exec(event) ?? [];
      if (kind === 'onCommand') assert.ok(contributed.includes(arg), `step ${step.id}: ${event} names no contributed command`);
      else if (kind === 'onContext') {
        const keys = whenKeys(arg);
        assert.ok(keys.length > 0, `step ${step.id}: ${event} reads no key`);
        assert.deepEqual(difference(keys, contextKeys), [], `step ${step.id}: ${event} reads keys the extension never sets`);
      } else assert.fail(`step ${step.id}: ${event}: use onCommand or onContext`);
    }

    const media = step.media.markdown ?? '';
    assert.ok(media.startsWith('media/walkthrough/') && media.endsWith('.md'), `step ${step.id}: markdown media in media/walkthrough/`);
    const text = fs.readFileSync(path.join(ROOT, media), 'utf8');
    assert.match(text, /^# /, `${media} starts with a heading`);
    assert.deepEqual(difference(commandLinks(text), contributed), [], `${media} links commands that are not contributed`);
    const excludedBy = ignore.filter((pattern) => globMatches(pattern, media));
    assert.deepEqual(excludedBy, [], `.vscodeignore leaves ${media} out of the .vsix`);
  }
  const files = fs.readdirSync(path.join(ROOT, 'media', 'walkthrough')).map((f) => `media/walkthrough/${f}`);
  assert.deepEqual(difference(files, walkthrough.steps.map((s) => s.media.markdown ?? '')), [], 'media/walkthrough holds files no step uses');
});

test('the when-clause and glob helpers of this file', () => {
  assert.deepEqual(whenKeys('slipstream.state == connected && !slipstream.hasTemplates'), ['slipstream.state', 'slipstream.hasTemplates']);
  assert.deepEqual(whenKeys('(slipstream.state == disconnected || !slipstream.state) && slipstream.engineKind != remote'),
    ['slipstream.state', 'slipstream.state', 'slipstream.engineKind']);
  assert.deepEqual(whenKeys('viewItem =~ /^bookmark\\./'), ['viewItem']);
  assert.equal(globMatches('docs/**', 'docs/a/b.md'), true);
  assert.equal(globMatches('**/*.ts', 'media/walkthrough/a.ts'), true);
  assert.equal(globMatches('**/*.ts', 'media/walkthrough/a.md'), false);
  assert.equal(globMatches('*.vsix', 'media/x.vsix'), false);
  assert.equal(globMatches('media/**', 'media/walkthrough/a.md'), true);
});

/** A .vscodeignore line (minimatch-style: `*`, `**`, a leading `/`) against a path in the package. */
function globMatches(pattern: string, file: string): boolean {
  if (pattern.startsWith('!')) return false;
  const re = pattern.replace(/^\//, '').split('/').map((part) => part === '**' ? '\u0000'
    : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('/')
    .replace(/\u0000\//g, '(?:.*/)?').replace(/\/\u0000/g, '(?:/.*)?').replace(/\u0000/g, '.*');
  return new RegExp(`^${re}$`).test(file);
}

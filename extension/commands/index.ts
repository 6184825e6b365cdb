/**
 * Every command that acts on engine data, by id. The vscode adapter registers
 * each id with `runCommand`; tests call the same handlers with a scripted Ui.
 * Commands that only move VS Code's own UI (open the timeline, show the log,
 * start the engine) live in the adapter.
 */
import { refOf, type ItemRef } from '../model/refs';
import { isCancelled, userMessage } from '../model/errors';
import { createBookmark, deleteBookmark, restore, share, unshare } from './bookmarks';
import { activateBranch, branchFromBookmark, createBranch, deleteBranch } from './branches';
import { copyUrl, deleteContainer, openTerminal, provision, selectContainer } from './containers';
import { branchFromMoment, restoreToMoment } from './moments';
import { refresh, reset } from './operations';
import { openBookmarkLink, shareLink } from './links';
import { pullBookmark, pushBookmark } from './remotes';
import { Dismissed } from './pickers';
import type { Session } from './session';
import { switchBranch } from './switch';
import { createTemplate, deleteTemplate, refreshTemplate } from './templates';

/** `arg` is the raw argument, for commands that take text (a pasted or clicked link). */
export type CommandHandler = (s: Session, ref: ItemRef | undefined, arg?: unknown) => Promise<unknown>;

export const commandHandlers = {
  'slipstream.provision': (s, ref) => provision(s, ref),
  'slipstream.container.delete': deleteContainer,
  'slipstream.container.copyUrl': copyUrl,
  'slipstream.container.openTerminal': openTerminal,
  'slipstream.selectContainer': selectContainer,
  'slipstream.branch.create': createBranch,
  'slipstream.branch.activate': activateBranch,
  'slipstream.branch.delete': deleteBranch,
  'slipstream.bookmark.create': createBookmark,
  'slipstream.bookmark.restore': restore,
  'slipstream.bookmark.branchHere': branchFromBookmark,
  'slipstream.bookmark.share': share,
  'slipstream.bookmark.unshare': unshare,
  'slipstream.bookmark.delete': deleteBookmark,
  'slipstream.bookmark.shareLink': shareLink,
  /** The earlier id of "Share Bookmark Link", kept so existing callers still work. */
  'slipstream.bookmark.copyLink': shareLink,
  'slipstream.bookmark.openLink': (s, _ref, arg) => openBookmarkLink(s, typeof arg === 'string' ? arg : undefined),
  'slipstream.bookmark.push': pushBookmark,
  'slipstream.bookmark.pull': (s) => pullBookmark(s),
  'slipstream.restoreToMoment': restoreToMoment,
  'slipstream.branchFromMoment': branchFromMoment,
  'slipstream.reset': reset,
  'slipstream.refresh': refresh,
  'slipstream.switch': switchBranch,
  'slipstream.template.create': (s, ref) => createTemplate(s, ref),
  'slipstream.template.refresh': refreshTemplate,
  'slipstream.template.delete': deleteTemplate,
} satisfies Record<string, CommandHandler>;

export type CommandId = keyof typeof commandHandlers;

/**
 * The data commands a row's context menu offers. The menu runs each under a
 * twin id of its own (`menuTwin`), hidden from the palette: a right-click
 * focuses its row, so a twin that VS Code hands no row may take the focused one
 * (vscode/menuRows.ts). An inline button or the palette focuses nothing, so
 * they keep the plain id, which asks.
 */
export const menuCommandIds = [
  'slipstream.bookmark.create', 'slipstream.branch.create', 'slipstream.switch', 'slipstream.reset', 'slipstream.refresh',
  'slipstream.container.copyUrl', 'slipstream.container.openTerminal', 'slipstream.selectContainer', 'slipstream.container.delete',
  'slipstream.branch.activate', 'slipstream.branch.delete',
  'slipstream.bookmark.restore', 'slipstream.bookmark.branchHere', 'slipstream.bookmark.share', 'slipstream.bookmark.unshare',
  'slipstream.bookmark.shareLink', 'slipstream.bookmark.push', 'slipstream.bookmark.delete',
  'slipstream.provision', 'slipstream.template.refresh', 'slipstream.template.delete',
] as const satisfies readonly CommandId[];

export type MenuCommandId = typeof menuCommandIds[number];

/** The id the context menu runs `id` under: `slipstream.x.y` → `slipstream.menu.x.y`. */
export function menuTwin(id: MenuCommandId): string {
  return id.replace(/^slipstream\./, 'slipstream.menu.');
}

/**
 * The commands that only move VS Code's own UI. extension.ts registers each
 * from a table typed by this list, so a missing or extra one does not compile;
 * test/extension/contributions.test.ts checks both lists against package.json.
 */
export const windowCommandIds = [
  'slipstream.timeline.open',
  'slipstream.showLog',
  'slipstream.views.refresh',
  'slipstream.views.loadMore',
  'slipstream.views.focusedRow',
  'slipstream.engine.start',
  'slipstream.engine.setToken',
  'slipstream.workspace.setup',
] as const;

export type WindowCommandId = typeof windowCommandIds[number];

export interface CommandOutcome {
  ok: boolean;
  /** The handler's result, for tests and for the extension's API. */
  result?: unknown;
  /** What the user was shown, when it failed. */
  error?: string;
}

/**
 * Runs a command as the user experiences it: a dismissed question ends it
 * quietly, a cancelled operation says so, and any failure shows the engine's
 * message (the stack goes to `log` only).
 */
export async function runCommand(s: Session, id: CommandId, arg: unknown, log?: (line: string) => void): Promise<CommandOutcome> {
  try {
    const handler: CommandHandler = commandHandlers[id];
    return { ok: true, result: await handler(s, refOf(arg), arg) };
  } catch (err) {
    if (err instanceof Dismissed) return { ok: false };
    if (isCancelled(err)) {
      s.ui.info('Cancelled. The engine rolled the operation back.');
      return { ok: false, error: 'cancelled' };
    }
    const message = userMessage(err);
    if (err instanceof Error && err.stack) log?.(`${id} failed: ${err.stack}`);
    s.ui.error(message);
    return { ok: false, error: message };
  }
}

/**
 * The row a context-menu command was run on, when VS Code handed it none.
 *
 * VS Code resolves a menu command's row when the command starts, in the
 * extension host; but when a row above it was announced as changed, that host
 * has forgotten every row beneath until the view asks for their levels again
 * (microsoft/vscode#144250). A command run in that window gets `undefined`.
 * The row is still the view's focused one: a right-click focuses its row before
 * the menu opens (an inline button does not, so only the `slipstream.menu.*`
 * twins come here). Once the view has asked again, VS Code resolves the focus
 * as it does for a view's title commands: `{ $treeViewId, $focusedTreeItem }`,
 * sent back through the workbench so that the host converts it.
 */
import * as vscode from 'vscode';
import type { TreeData } from '../treeData';

/** The hidden command the workbench calls with the focused row (extension.ts registers it). */
export const FOCUSED_ROW = 'slipstream.views.focusedRow';
/** How long to wait for the view to ask again before asking the user instead. */
const WAIT_MS = 5000;

/** A tree view of the extension's, by its id. */
export interface View {
  id: string;
  data: TreeData;
  view: vscode.TreeView<unknown>;
}

interface Lost {
  id: string;
  data: TreeData;
  /** The levels VS Code did not know when the command came: the row must be in one of them. */
  levels: ReadonlySet<string>;
}

export class MenuRows {
  private probed: unknown;
  private queue = Promise.resolve();

  constructor(private readonly views: readonly View[]) {}

  /** FOCUSED_ROW's handler: VS Code has converted the focus into a row, or `undefined`. */
  readonly focusedRow = (row: unknown): void => {
    this.probed = row;
  };

  /**
   * The row a menu command got no argument for, or `undefined` (the command then asks).
   * Call it as the command starts: it notes which levels VS Code did not know then.
   */
  async find(): Promise<unknown> {
    // Only a view on screen was right-clicked, and only one drawing rows again lost its row.
    const lost: Lost[] = this.views.filter((v) => v.view.visible && v.data.redrawing.size > 0)
      .map((v) => ({ id: v.id, data: v.data, levels: v.data.redrawing }));
    if (!lost.length) return undefined;
    try {
      return await this.wait(lost, Date.now() + WAIT_MS);
    } catch {
      return undefined; // no runCommands, or the view went away: the command asks
    }
  }

  private async wait(lost: Lost[], deadline: number): Promise<unknown> {
    // Counted from the start, so that an ask answered while a probe is on its way is not missed.
    let asks = 0;
    let wake = () => {};
    const subs = lost.map((l) => l.data.onDidAsk(() => { asks++; wake(); }));
    try {
      for (;;) {
        const seen = asks;
        const rows: unknown[] = [];
        for (const l of lost) {
          const row = await this.focused(l.id);
          const level = row === undefined ? undefined : l.data.levelOf(row);
          if (level !== undefined && l.levels.has(level)) rows.push(row);
        }
        // Two views that both lost the row they focus: which one was clicked is unknown.
        if (rows.length) return rows.length === 1 ? rows[0] : undefined;
        if (asks !== seen) continue; // asked again meanwhile: look again
        const pending = lost.some((l) => [...l.levels].some((k) => l.data.redrawing.has(k)));
        if (!pending || Date.now() > deadline) return undefined;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, deadline - Date.now());
          wake = () => { clearTimeout(timer); resolve(); };
        });
      }
    } finally {
      for (const s of subs) s.dispose();
    }
  }

  /** The row focused in view `viewId`, as VS Code resolves it now; one probe at a time. */
  private focused(viewId: string): Promise<unknown> {
    const run = this.queue.then(async () => {
      this.probed = undefined;
      await vscode.commands.executeCommand('runCommands', {
        commands: [{ command: FOCUSED_ROW, args: [{ $treeViewId: viewId, $focusedTreeItem: true }] }],
      });
      return this.probed;
    });
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }
}

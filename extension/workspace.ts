/**
 * What this window shows everywhere at once (status bar, terminal variables,
 * welcome views, the timeline's default container): the user's containers,
 * whether templates exist, and which container this workspace works in. It
 * reloads on every engine change and reconnect. No `vscode`: tested under
 * node:test.
 */
import { ContainerListRequest, ContainerUrlRequest, TemplateListRequest, type ConnectionInfo, type ContainerInfo } from '../server/protocol';
import type { ConnectionState, Requester } from './engine/connection';
import { workspaceContainer } from './model/status';
import { Disposable } from './util/disposable';
import { coalesce, debounce, Emitter, type Event } from './util/event';

export interface EngineFeed extends Requester {
  readonly state: ConnectionState;
  readonly onDidChangeState: Event<ConnectionState>;
  readonly onChanged: Event<{ what: string; container?: string }>;
}

/** Where the user's choice of container is kept (VS Code's workspaceState in the extension). */
export interface ChoiceStore {
  get(): string | undefined;
  set(value: string | undefined): Promise<void>;
}

export interface WorkspaceSnapshot {
  connected: boolean;
  containers: ContainerInfo[];
  templateCount: number;
  /** The workspace's container, when one is chosen or obvious. */
  container?: ContainerInfo;
  /** Its connection, for terminal variables. */
  connection?: ConnectionInfo;
}

export class WorkspaceData extends Disposable {
  private current: WorkspaceSnapshot = { connected: false, containers: [], templateCount: 0 };
  private readonly emitter = this.register(new Emitter<WorkspaceSnapshot>());
  private readonly reloadSoon = debounce(() => void this.reload(), 100);
  private readonly reloadNow = coalesce(() => this.load());
  readonly onDidChange = this.emitter.event;

  constructor(
    private readonly engine: EngineFeed,
    private readonly choice: ChoiceStore,
    /** The container slipstream.json names, when there is one. */
    private readonly configured: () => string | undefined,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    super();
    this.register(engine.onDidChangeState(() => this.reloadSoon()));
    this.register(engine.onChanged(() => this.reloadSoon()));
    this.register({ dispose: () => this.reloadSoon.cancel() });
  }

  get snapshot(): WorkspaceSnapshot {
    return this.current;
  }

  /** The container name commands default to, even before the first load finished. */
  preferredName(): string | undefined {
    return this.current.container?.name ?? this.choice.get() ?? this.configured();
  }

  async choose(name: string | undefined): Promise<void> {
    await this.choice.set(name);
    await this.reload();
  }

  /** Reloads now; concurrent calls coalesce into one more load. */
  reload(): Promise<void> {
    return this.reloadNow();
  }

  private async load(): Promise<void> {
    if (this.engine.state.kind !== 'connected') {
      this.publish({ connected: false, containers: [], templateCount: 0 });
      return;
    }
    try {
      const [containers, templates] = await Promise.all([
        this.engine.request(ContainerListRequest.type, {}),
        this.engine.request(TemplateListRequest.type, {}),
      ]);
      const container = workspaceContainer(containers, [this.choice.get(), this.configured()]);
      const connection = container ? await this.engine.request(ContainerUrlRequest.type, { name: container.name }) : undefined;
      this.publish({ connected: true, containers, templateCount: templates.length, container, connection });
    } catch (err) {
      this.log(`could not load the workspace's containers: ${err instanceof Error ? err.message : String(err)}`);
      this.publish({ connected: this.engine.state.kind === 'connected', containers: [], templateCount: 0 });
    }
  }

  private publish(next: WorkspaceSnapshot): void {
    this.current = next;
    this.emitter.fire(next);
  }
}

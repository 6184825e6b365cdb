/**
 * The data changes this window makes: every switch, restore, reset and refresh
 * that goes through the session, from a command, the status bar, a link or a
 * git checkout that the follow logic turned into a switch. The hooks
 * (vscode/hooks.ts) run after these, and only these: a change made elsewhere
 * (the CLI, another window) is that client's to follow up, or the hooks would
 * run once per open window.
 */
import type { RequestType } from 'vscode-jsonrpc';
import type { ChangeMade } from '../../server/common/hooks';
import {
  BranchActivateRequest, BranchCreateRequest, RefreshRequest, ResetRequest, RestoreRequest,
  type BranchInfo, type ContainerInfo, type ErrorData, type RestoreParams,
} from '../../server/protocol';
import { Disposable } from '../util/disposable';
import { Emitter } from '../util/event';
import type { RequestOptions } from '../../server/common/client';
import type { Requester } from './connection';

export class ChangeWatcher extends Disposable implements Requester {
  private readonly emitter = this.register(new Emitter<ChangeMade>());
  /** Fires after the engine answered a request that changed a container's active data. */
  readonly onDidChangeData = this.emitter.event;

  constructor(private readonly inner: Requester) {
    super();
  }

  async request<P extends object, R>(type: RequestType<P, R, ErrorData>, params: P, options?: RequestOptions): Promise<R> {
    const result = await this.inner.request(type, params, options);
    const change = changeMade(type.method, params, result);
    if (change) this.emitter.fire(change);
    return result;
  }
}

/** The change a request made, from its method, params and answer (their types are the
 *  protocol's for that method, which is why the casts below hold). */
export function changeMade(method: string, params: object, result: unknown): ChangeMade | undefined {
  switch (method) {
    case BranchActivateRequest.method:
      return { operation: 'activate', container: (result as BranchInfo).container };
    case BranchCreateRequest.method: {
      const b = result as BranchInfo;
      return b.active ? { operation: 'activate', container: b.container } : undefined;
    }
    case RestoreRequest.method:
      return { operation: 'restore', container: (result as BranchInfo).container, bookmark: (params as RestoreParams).bookmark };
    case ResetRequest.method:
      return { operation: 'reset', container: (result as BranchInfo).container };
    case RefreshRequest.method:
      return { operation: 'refresh', container: (result as ContainerInfo).name };
    default:
      return undefined;
  }
}

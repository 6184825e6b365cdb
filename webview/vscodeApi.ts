import type { FromWebview } from './protocol';

/** The piece of the webview API we use; `acquireVsCodeApi` may be called only once per page. */
export interface WebviewApi<State> {
  postMessage(message: FromWebview): void;
  getState(): State | undefined;
  setState(state: State): void;
}

declare function acquireVsCodeApi<State>(): WebviewApi<State>;

export function vscodeApi<State>(): WebviewApi<State> {
  return acquireVsCodeApi<State>();
}

import type { ContainerInfo } from '../../server/protocol';
import type { ConnectionState } from '../engine/connection';

export interface StatusBarDesc {
  /** With codicons, e.g. `$(database) dev: main`. */
  text: string;
  tooltip: string;
  /** Which command a click runs. */
  command: 'slipstream.switch' | 'slipstream.engine.start' | 'slipstream.provision' | 'slipstream.selectContainer';
  warning: boolean;
}

/** The status bar item: the workspace's container and active branch, or what to do to get there. */
export function statusBar(state: ConnectionState, container: ContainerInfo | undefined, containerCount: number): StatusBarDesc {
  switch (state.kind) {
    case 'connecting':
      return { text: '$(sync~spin) Slipstream', tooltip: 'Connecting to the Slipstream engine…', command: 'slipstream.switch', warning: false };
    case 'starting':
      return { text: '$(sync~spin) Slipstream: starting engine', tooltip: 'Starting the local Slipstream engine…', command: 'slipstream.switch', warning: false };
    case 'disconnected':
      return { text: '$(debug-disconnect) Slipstream: engine down', tooltip: `Not connected: ${state.reason}. Click to start the engine.`, command: 'slipstream.engine.start', warning: true };
    case 'connected':
      break;
  }
  if (!container) {
    return containerCount === 0
      ? { text: '$(database) Slipstream: no container', tooltip: 'Provision a container: your own database from a template', command: 'slipstream.provision', warning: false }
      : { text: '$(database) Slipstream: pick a container', tooltip: 'Choose the container this workspace works in', command: 'slipstream.selectContainer', warning: false };
  }
  const down = container.failure ? ` Its database is down: ${container.failure.reason}. ${container.failure.action}` : '';
  return {
    text: `$(${container.state === 'failed' ? 'error' : 'database'}) ${container.name}: ${container.activeBranch}${container.state === 'running' ? '' : ` (${container.state})`}`,
    tooltip: `Container ${container.name} (template ${container.template} v${container.templateVersion}), active branch ${container.activeBranch}, port ${container.port}.${down} Click to switch branch or bookmark.`,
    command: 'slipstream.switch',
    warning: container.state !== 'running',
  };
}

/**
 * The container a workspace works in: the one slipstream.json or the user
 * chose, when it still exists; else the only one the user has.
 */
export function workspaceContainer(containers: ContainerInfo[], preferred: Array<string | undefined>): ContainerInfo | undefined {
  for (const name of preferred) {
    const found = name ? containers.find((c) => c.name === name) : undefined;
    if (found) return found;
  }
  return containers.length === 1 ? containers[0] : undefined;
}

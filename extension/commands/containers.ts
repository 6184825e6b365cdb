import {
  ContainerCreateRequest,
  ContainerDeleteRequest,
  ContainerListRequest,
  ContainerUrlRequest,
  type ContainerInfo,
} from '../../server/protocol';
import { databaseEnv } from '../model/env';
import type { ItemRef } from '../model/refs';
import { answered, containerOf, templateOf, withEngineProgress } from './pickers';
import type { Session } from './session';

/** Provision: the user's own container (one PostgreSQL on a fixed port) from a template. */
export async function provision(s: Session, ref?: ItemRef, preset?: { template: string; container: string }): Promise<ContainerInfo> {
  const template = preset?.template ?? await templateOf(s, ref, 'Provision a container from which template?');
  const name = preset?.container ?? answered(await s.ui.input({
    title: `Provision a container from template ${template}`,
    prompt: 'Container name (your workspace: one PostgreSQL on a fixed port)',
    value: template,
    required: true,
  }));
  const c = await withEngineProgress(s, `Provisioning container ${name} from ${template}`,
    (opts) => s.engine.request(ContainerCreateRequest.type, { name, template }, opts));
  if (!s.workspaceContainer()) await s.setWorkspaceContainer(c.name);
  s.ui.info(`Container ${c.name} is ready on port ${c.port} (branch ${c.activeBranch}).`);
  return c;
}

export async function deleteContainer(s: Session, ref?: ItemRef): Promise<void> {
  const c = await containerOf(s, ref, 'Delete which container?');
  const ok = await s.ui.confirm(`Delete container ${c.container}?`,
    'Its database, every branch and every private bookmark in it are deleted. This cannot be undone.', 'Delete Container');
  if (!ok) return;
  await withEngineProgress(s, `Deleting container ${c.container}`,
    (opts) => s.engine.request(ContainerDeleteRequest.type, { name: c.container }, opts));
  if (s.workspaceContainer() === c.container) await s.setWorkspaceContainer(undefined);
  s.ui.info(`Container ${c.container} deleted.`);
}

export async function copyUrl(s: Session, ref?: ItemRef): Promise<string> {
  const c = await containerOf(s, ref, 'Copy the connection URL of which container?');
  const conn = await s.engine.request(ContainerUrlRequest.type, { name: c.container });
  await s.ui.copy(conn.url);
  s.ui.info(`Copied the connection URL of ${c.container} (port ${conn.port}; it stays the same whichever branch is active).`);
  return conn.url;
}

export async function openTerminal(s: Session, ref?: ItemRef): Promise<void> {
  const c = await containerOf(s, ref, 'Open a terminal on which container?');
  const conn = await s.engine.request(ContainerUrlRequest.type, { name: c.container });
  s.ui.openTerminal(`Slipstream: ${c.container}`, databaseEnv(conn));
}

/** Choose the container this workspace works in (status bar, terminal variables, timeline). */
export async function selectContainer(s: Session, ref?: ItemRef): Promise<string> {
  let name: string;
  if (ref?.kind === 'container') {
    name = ref.container;
  } else {
    const containers = await s.engine.request(ContainerListRequest.type, {});
    if (containers.length === 0) throw new Error('You have no container yet. Run "Slipstream: Provision Container" first.');
    name = answered(await s.ui.pick(containers.map((c) => ({
      label: c.name, description: `${c.template} · ${c.activeBranch} · port ${c.port}`, picked: c.name === s.workspaceContainer(), value: c.name,
    })), { title: 'Which container does this workspace work in?' }));
  }
  await s.setWorkspaceContainer(name);
  return name;
}

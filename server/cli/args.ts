/**
 * Command-line parsing: pure, so the unit tests can drive it without an engine.
 * One table (`specs`) describes every command: its usage, help and how its flags
 * become protocol params. `parseCommandLine` turns argv into a typed command,
 * a help text, or a usage error (exit 2).
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'node:util';
import { formatEngineUrl, isParseError, MAX_PORT, MIN_CONTAINER_PORT, parseEngineUrl, parseHostPort } from '../common/address';
import { parsePoolImageSize } from '../common/poolImage';
import { hideSecrets } from '../common/redact';
import { MOMENT_FORMS, parseMoment } from '../common/moments';
import type {
  BookmarkCreateParams,
  BookmarkListParams,
  BookmarkPullParams,
  BookmarkPushParams,
  BookmarkRefParams,
  BookmarkTagParams,
  BranchCreateParams,
  BranchLinkParams,
  BranchParams,
  ContainerCreateParams,
  ContainerOpParams,
  ContainerParams,
  DriverChoice,
  GitContext,
  NameParams,
  RemoteAddParams,
  RestoreParams,
  RestoreToMomentParams,
  SourceSpec,
  TemplateCreateParams,
  TimelineParams,
} from '../protocol';

// ---------------------------------------------------------------- result types

type NoArgs = Record<string, never>;
/** --hooks: run slipstream.json's hooks after the change, looking for the file from `from` upward.
 *  Absent without the flag; the handler takes it off before the params go to the engine. */
export interface WithHooks { hooks?: { from: string } }
export interface EngineRunArgs {
  driver: DriverChoice; pool?: string; pgBin?: string;
  listen?: string; tlsCert?: string; tlsKey?: string; dbListen?: string; poolImage?: string;
}

/** Every command and the arguments its handler receives (mostly the protocol params). */
export interface CommandArgs {
  'engine start': EngineRunArgs;
  'engine stop': NoArgs;
  'engine status': NoArgs;
  'engine run': EngineRunArgs;
  'template create': TemplateCreateParams;
  'template refresh': NameParams;
  'template list': NoArgs;
  'template delete': NameParams;
  'container create': ContainerCreateParams;
  'container list': NoArgs;
  'container show': NameParams;
  'container delete': NameParams;
  'container start': NameParams;
  'container url': NameParams;
  'branch create': BranchCreateParams & WithHooks;
  'branch activate': BranchParams & WithHooks;
  'branch list': ContainerParams;
  'branch delete': BranchParams;
  'branch link': BranchLinkParams;
  'branch unlink': BranchParams;
  /** `git` holds only the --git-* overrides; the handler adds what the current git repository says. */
  'bookmark create': { params: BookmarkCreateParams; git: GitContext };
  'bookmark list': BookmarkListParams & { remote?: string };
  'bookmark show': BookmarkRefParams;
  'bookmark share': BookmarkRefParams;
  'bookmark unshare': BookmarkRefParams;
  'bookmark tag': BookmarkTagParams;
  'bookmark delete': BookmarkRefParams;
  'bookmark link': BookmarkRefParams & { scheme: string; remote?: string };
  'bookmark push': BookmarkPushParams;
  'bookmark pull': BookmarkPullParams;
  'remote add': RemoteAddParams;
  'remote list': NoArgs;
  'remote remove': NameParams;
  'remote key': NameParams;
  open: { link: string; container: string; branch?: string } & WithHooks;
  restore: (RestoreParams | RestoreToMomentParams) & WithHooks;
  reset: ContainerOpParams & WithHooks;
  refresh: ContainerOpParams & WithHooks;
  timeline: TimelineParams;
  'user add': { name: string; admin?: boolean };
  'user list': NoArgs;
  'user remove': NameParams;
  whoami: NoArgs;
}
export type CommandId = keyof CommandArgs;
/** A discriminated union written so that `handlers[cmd.id](ctx, cmd.args)` type-checks. */
export type ParsedCommand<K extends CommandId = CommandId> = { [I in K]: { id: I; args: CommandArgs[I] } }[K];

/** Where the CLI's requests go. The one place that knows about --engine and --token. */
export type EngineTarget = { kind: 'local' } | { kind: 'tcp'; url: string; token?: string; tlsCa?: string };

export interface GlobalFlags {
  home?: string;
  json: boolean;
  target: EngineTarget;
  /** What the CLI prints on stderr before it runs the command (a flag that beat the environment). */
  warnings?: string[];
}

export type ParseOutcome =
  | { kind: 'help'; text: string; exitCode: 0 | 2 }
  | { kind: 'run'; globals: GlobalFlags; command: ParsedCommand }
  | { kind: 'error'; message: string; hint: string; json: boolean };

export interface ParseEnv {
  cwd: string;
  env: Record<string, string | undefined>;
}

// ---------------------------------------------------------------- command table

interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** Positionals after this flag belong to it (`--sql a.sql b.sql`). */
  absorb?: boolean;
  /** Placeholder shown in help, e.g. 'FILE...'. */
  arg?: string;
  help: string;
}

interface CommandSpec<K extends CommandId> {
  /** Everything after the command words, as the usage line shows it. */
  usage: string;
  summary: string;
  positionals: readonly string[];
  /** The positionals may be left out (build() then says what the command needs). */
  positionalsOptional?: true;
  options: Readonly<Record<string, OptionSpec>>;
  notes?: readonly string[];
  hidden?: boolean;
  build(input: Input): CommandArgs[K];
}

class UsageError extends Error {}

const DRIVERS: readonly DriverChoice[] = ['auto', 'btrfs', 'reflink', 'blocks'];

/** Parsed flags and positionals of one command, with checked accessors. */
class Input {
  constructor(
    readonly positionals: readonly string[],
    private readonly values: Readonly<Record<string, string | boolean | undefined>>,
    private readonly lists: Readonly<Record<string, string[]>>,
    private readonly cwd: string,
  ) {}

  pos(index: number): string {
    return this.positionals[index];
  }
  str(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }
  need(name: string, placeholder: string): string {
    const v = this.str(name);
    if (v === undefined || v === '') throw new UsageError(`missing --${name} ${placeholder}`);
    return v;
  }
  flag(name: string): boolean {
    return this.values[name] === true;
  }
  list(name: string): string[] {
    return this.lists[name] ?? [];
  }
  abs(file: string): string {
    return path.resolve(this.cwd, file);
  }
  int(name: string, min: number, max: number): number | undefined {
    const raw = this.str(name);
    if (raw === undefined) return undefined;
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not '${raw}'`);
    }
    return n;
  }
  cwdDir(): string {
    return this.cwd;
  }
}

const containerOpt = (help: string): OptionSpec => ({ type: 'string', arg: 'C', help });
const hooksOpt = (key: string): OptionSpec => ({
  type: 'boolean', help: `then run the "${key}" hooks of slipstream.json (found from the current folder upward)`,
});
const hooksNote = 'With --hooks the hooks run in your shell, in slipstream.json\'s folder, with SLIPSTREAM_* variables saying what happened; a failed hook makes the exit status 1, and the data change stands.';

function hooksFrom(input: Input): WithHooks {
  return input.flag('hooks') ? { hooks: { from: input.cwdDir() } } : {};
}
const bookmarkRefNote = 'B is a bookmark id, or a bookmark name that is unique among the bookmarks you can see.';
const scopeOpt = containerOpt('look the bookmark name up in this container only');

const engineDaemonOptions: Record<string, OptionSpec> = {
  driver: { type: 'string', arg: 'auto|btrfs|reflink|blocks', help: "copy-on-write volume driver; auto picks the best one for the pool's filesystem (default: auto)" },
  pool: { type: 'string', arg: 'DIR', help: 'directory that holds the volumes and snapshots (default: HOME/pool)' },
  'pg-bin': { type: 'string', arg: 'DIR', help: 'directory with initdb, pg_ctl and postgres (default: the bundled PostgreSQL 18)' },
  listen: { type: 'string', arg: 'HOST:PORT', help: 'team mode: also serve clients on TCP HOST:PORT; they need a token (see user add)' },
  'tls-cert': { type: 'string', arg: 'FILE', help: 'team mode over TLS: the certificate (PEM)' },
  'tls-key': { type: 'string', arg: 'FILE', help: 'team mode over TLS: the private key (PEM)' },
  'db-listen': { type: 'string', arg: 'ADDR', help: "the address new containers' databases listen on (default: 127.0.0.1)" },
  'pool-image': { type: 'string', arg: 'SIZE', help: 'root only, new home only: put the pool on a sparse btrfs (or XFS) image of SIZE (e.g. 20G) in HOME/pool.img, loop-mounted at the pool; later starts mount it again' },
};

function engineRunArgs(input: Input): EngineRunArgs {
  const driver = input.str('driver') ?? 'auto';
  if (!(DRIVERS as readonly string[]).includes(driver)) {
    throw new UsageError(`--driver must be one of ${DRIVERS.join(', ')}, not '${driver}'`);
  }
  const pool = input.str('pool');
  const pgBin = input.str('pg-bin');
  const [listen, tlsCert, tlsKey, dbListen] = [input.str('listen'), input.str('tls-cert'), input.str('tls-key'), input.str('db-listen')];
  const listenAt = listen === undefined ? undefined : parseHostPort(listen);
  if (listenAt && isParseError(listenAt)) throw new UsageError(`--listen: ${listenAt.error}`);
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (tlsCert !== undefined && listen === undefined) throw new UsageError('--tls-cert needs --listen');
  const poolImage = input.str('pool-image');
  const size = poolImage === undefined ? undefined : parsePoolImageSize(poolImage);
  if (size && 'error' in size) throw new UsageError(size.error);
  return {
    driver: driver as DriverChoice,
    ...(pool ? { pool: input.abs(pool) } : {}),
    ...(pgBin ? { pgBin: input.abs(pgBin) } : {}),
    ...(listen ? { listen } : {}),
    ...(tlsCert && tlsKey ? { tlsCert: input.abs(tlsCert), tlsKey: input.abs(tlsKey) } : {}),
    ...(dbListen ? { dbListen } : {}),
    ...(poolImage !== undefined ? { poolImage } : {}),
  };
}

/** Exactly one source flag; several or none is a command-line mistake. */
function templateSource(input: Input): SourceSpec {
  const given: SourceSpec[] = [];
  if (input.flag('empty')) given.push({ kind: 'empty' });
  if (input.list('sql').length > 0) given.push({ kind: 'sql', files: input.list('sql').map((f) => input.abs(f)) });
  const dump = input.str('dump');
  if (dump !== undefined) given.push({ kind: 'dump', file: input.abs(dump) });
  const url = input.str('url');
  if (url !== undefined) given.push({ kind: 'url', url });
  const command = input.str('command');
  if (command !== undefined) given.push({ kind: 'command', command, cwd: input.cwdDir() });
  if (given.length === 0) throw new UsageError('needs a source: one of --empty, --sql FILE..., --dump FILE, --url URL or --command CMD');
  if (given.length > 1) throw new UsageError(`takes one source, not ${given.length}: ${given.map((s) => '--' + s.kind).join(', ')}`);
  return given[0];
}

/** At most one starting point; none means the active branch's current data (the engine
 *  resolves it, as `git branch NAME` starts from HEAD). */
function branchFrom(input: Input): BranchCreateParams['from'] {
  const bookmark = input.str('from-bookmark');
  const branch = input.str('from-branch');
  const template = input.flag('from-template');
  const given = [bookmark !== undefined && '--from-bookmark', branch !== undefined && '--from-branch', template && '--from-template']
    .filter((g): g is string => typeof g === 'string');
  if (given.length > 1) throw new UsageError(`${given.join(' and ')} cannot be used together: give one starting point`);
  const at = input.str('at');
  if (at !== undefined) {
    if (bookmark !== undefined || template) throw new UsageError('--at takes a moment of a branch\'s history: use it alone or with --from-branch');
    const parsed = parseMoment(at, Date.now());
    if ('problem' in parsed) throw new UsageError(parsed.problem);
    return { kind: 'moment', at, ...(branch !== undefined ? { branch } : {}) };
  }
  if (bookmark !== undefined) return { kind: 'bookmark', bookmark };
  if (branch !== undefined) return { kind: 'branch', branch };
  if (template) return { kind: 'template' };
  return undefined;
}

/** A key file holds the base64 key, whitespace around it allowed; the engine checks the key itself. */
function readKeyFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`--key-file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

function bookmarkRef(input: Input): BookmarkRefParams {
  const container = input.str('container');
  return { bookmark: input.pos(0), ...(container ? { container } : {}) };
}

function gitOverrides(input: Input): GitContext {
  const git: GitContext = {};
  const branch = input.str('git-branch');
  const commit = input.str('git-commit');
  const remote = input.str('git-remote');
  if (branch !== undefined) git.branch = branch;
  if (commit !== undefined) git.commit = commit;
  if (remote !== undefined) git.remote = remote;
  return git;
}

const noArgs = (): NoArgs => ({});

const specs: { readonly [K in CommandId]: CommandSpec<K> } = {
  'engine start': {
    usage: '[--driver auto|btrfs|reflink|blocks] [--pool DIR] [--pg-bin DIR] [--listen HOST:PORT [--tls-cert F --tls-key F]] [--db-listen ADDR] [--pool-image SIZE]',
    summary: 'Start the engine in the background; returns once it answers',
    positionals: [],
    options: engineDaemonOptions,
    notes: [
      'The engine logs to HOME/engine.log. Starting an engine that already runs is not an error.',
      '--pool-image gives a root engine on a file system without reflink (ext4) the btrfs driver: the image is made and recorded on the first start, and mounted again (nodev,nosuid,noexec) by every later start; it stays mounted when the engine stops. It is not the default: the image has a fixed size, so the pool fills up at SIZE.',
    ],
    build: engineRunArgs,
  },
  'engine stop': {
    usage: '',
    summary: "Stop the engine and every container's database",
    positionals: [],
    options: {},
    build: noArgs,
  },
  'engine status': {
    usage: '',
    summary: "Show the engine's pid, home, pool, volume driver and PostgreSQL version",
    positionals: [],
    options: {},
    build: noArgs,
  },
  'engine run': {
    usage: '[--driver auto|btrfs|reflink|blocks] [--pool DIR] [--pg-bin DIR] [--listen HOST:PORT [--tls-cert F --tls-key F]] [--db-listen ADDR] [--pool-image SIZE]',
    summary: 'Run the engine in the foreground (engine start runs this in the background)',
    positionals: [],
    options: engineDaemonOptions,
    hidden: true,
    build: engineRunArgs,
  },
  'template create': {
    usage: 'NAME (--empty | --sql FILE... | --dump FILE | --url URL | --command CMD)',
    summary: 'Build a template (a named golden dataset) from a source',
    positionals: ['NAME'],
    options: {
      empty: { type: 'boolean', help: 'an empty database' },
      sql: { type: 'string', multiple: true, absorb: true, arg: 'FILE...', help: 'SQL files, run in order (repeat the flag or list several files)' },
      dump: { type: 'string', arg: 'FILE', help: 'a pg_dump file' },
      url: { type: 'string', arg: 'URL', help: 'copy a live PostgreSQL database, e.g. postgres://user:pass@host:5432/db' },
      command: { type: 'string', arg: 'CMD', help: "a shell command that seeds a fresh database, run in the current directory (e.g. 'npm run migrate && npm run seed')" },
    },
    notes: ['Templates are visible to every user. "template refresh" rebuilds one from the same source as a new version.'],
    build: (input) => ({ name: input.pos(0), source: templateSource(input) }),
  },
  'template refresh': {
    usage: 'NAME',
    summary: 'Rebuild a template from its source as a new version (containers move to it when you run refresh)',
    positionals: ['NAME'],
    options: {},
    build: (input) => ({ name: input.pos(0) }),
  },
  'template list': {
    usage: '',
    summary: 'List templates, their sources and versions',
    positionals: [],
    options: {},
    build: noArgs,
  },
  'template delete': {
    usage: 'NAME',
    summary: 'Delete a template',
    positionals: ['NAME'],
    options: {},
    build: (input) => ({ name: input.pos(0) }),
  },
  'container create': {
    usage: 'NAME --template T [--port N]',
    summary: 'Create a container (your workspace: one PostgreSQL on a fixed port) from a template',
    positionals: ['NAME'],
    options: {
      template: { type: 'string', arg: 'T', help: 'the template whose latest version the container starts from' },
      port: { type: 'string', arg: 'N', help: 'the port its database listens on (default: the engine picks a free one)' },
    },
    notes: ['The container starts with one branch, "default", which is active. Its URL never changes.'],
    build: (input) => {
      const port = input.int('port', MIN_CONTAINER_PORT, MAX_PORT);
      return { name: input.pos(0), template: input.need('template', 'T'), ...(port !== undefined ? { port } : {}) };
    },
  },
  'container list': {
    usage: '',
    summary: 'List your containers with their template, active branch and port',
    positionals: [],
    options: {},
    build: noArgs,
  },
  'container show': {
    usage: 'NAME',
    summary: "Show a container's template, port, active branch and state",
    positionals: ['NAME'],
    options: {},
    build: (input) => ({ name: input.pos(0) }),
  },
  'container delete': {
    usage: 'NAME',
    summary: 'Delete a container, its branches and its database',
    positionals: ['NAME'],
    options: {},
    build: (input) => ({ name: input.pos(0) }),
  },
  'container start': {
    usage: 'NAME',
    summary: "Start a container's database again, e.g. after a failed start once its cause is fixed",
    positionals: ['NAME'],
    options: {},
    notes: ['`container list` and `container show` say when a database failed to start, why, and what to do. The next `engine start` retries it too.'],
    build: (input) => ({ name: input.pos(0) }),
  },
  'container url': {
    usage: 'NAME',
    summary: "Print the connection URL of a container's database (the same whichever branch is active)",
    positionals: ['NAME'],
    options: {},
    build: (input) => ({ name: input.pos(0) }),
  },
  'branch create': {
    usage: 'NAME --container C [--from-branch NAME | --from-bookmark B | --from-template] [--at TIME] [--activate]',
    summary: "Create a branch (a line of data history) from the active branch's data, another branch, a bookmark or the template",
    positionals: ['NAME'],
    options: {
      container: containerOpt('the container that gets the branch'),
      'from-bookmark': { type: 'string', arg: 'B', help: "start from a bookmark (yours or a shared one)" },
      'from-branch': { type: 'string', arg: 'NAME', help: "start from another branch's current data" },
      'from-template': { type: 'boolean', help: "start from the template's latest version (fresh data)" },
      at: { type: 'string', arg: 'TIME', help: `start from the branch's data as of a moment (the active branch's without --from-branch): ${MOMENT_FORMS}` },
      activate: { type: 'boolean', help: 'make it the active branch (the database restarts on the same port)' },
      hooks: hooksOpt('afterSwitch'),
    },
    notes: [
      "Without --from-branch, --from-bookmark or --from-template the branch starts from the active branch's current data (as 'git branch NAME' starts from HEAD): nothing is lost, and the database keeps serving while it is copied.",
      hooksNote,
    ],
    build: (input) => {
      const from = branchFrom(input);
      if (input.flag('hooks') && !input.flag('activate')) throw new UsageError('--hooks runs the afterSwitch hooks, so it needs --activate');
      return {
        container: input.need('container', 'C'),
        name: input.pos(0),
        ...(from ? { from } : {}),
        ...(input.flag('activate') ? { activate: true } : {}),
        ...hooksFrom(input),
      };
    },
  },
  'branch activate': {
    usage: 'NAME --container C [--hooks]',
    summary: 'Make a branch the active one (the database restarts on the same port)',
    positionals: ['NAME'],
    options: { container: containerOpt('the container that has the branch'), hooks: hooksOpt('afterSwitch') },
    notes: [hooksNote],
    build: (input) => ({ container: input.need('container', 'C'), name: input.pos(0), ...hooksFrom(input) }),
  },
  'branch list': {
    usage: '--container C',
    summary: "List a container's branches; * marks the active one",
    positionals: [],
    options: { container: containerOpt('the container to list') },
    build: (input) => ({ container: input.need('container', 'C') }),
  },
  'branch delete': {
    usage: 'NAME --container C',
    summary: 'Delete a branch and its data',
    positionals: ['NAME'],
    options: { container: containerOpt('the container that has the branch') },
    build: (input) => ({ container: input.need('container', 'C'), name: input.pos(0) }),
  },
  'branch link': {
    usage: 'NAME --git-branch X --container C',
    summary: 'Link a data branch to a git branch: checking out X in VS Code activates it',
    positionals: ['NAME'],
    options: {
      'git-branch': { type: 'string', arg: 'X', help: 'the git branch to follow' },
      container: containerOpt('the container that has the branch'),
    },
    build: (input) => ({ container: input.need('container', 'C'), name: input.pos(0), gitBranch: input.need('git-branch', 'X') }),
  },
  'branch unlink': {
    usage: 'NAME --container C',
    summary: 'Remove the link between a data branch and its git branch',
    positionals: ['NAME'],
    options: { container: containerOpt('the container that has the branch') },
    build: (input) => ({ container: input.need('container', 'C'), name: input.pos(0) }),
  },
  'bookmark create': {
    usage: 'NAME --container C [--tag T]... [--note TEXT] [--share] [--git-branch B] [--git-commit SHA] [--git-remote URL]',
    summary: "Bookmark the container's active branch: an immutable snapshot to restore or branch from later",
    positionals: ['NAME'],
    options: {
      container: containerOpt('the container whose active branch is bookmarked'),
      tag: { type: 'string', multiple: true, arg: 'T', help: 'a tag (repeat for several)' },
      note: { type: 'string', arg: 'TEXT', help: 'a free-text note' },
      share: { type: 'boolean', help: 'share it at once with everyone whose containers come from the same template' },
      'git-branch': { type: 'string', arg: 'B', help: 'record this git branch instead of the current one' },
      'git-commit': { type: 'string', arg: 'SHA', help: 'record this git commit instead of the current one' },
      'git-remote': { type: 'string', arg: 'URL', help: "record this git remote instead of the current 'origin'" },
    },
    notes: ["Inside a git repository the current git branch, commit and 'origin' remote are recorded."],
    build: (input) => {
      const note = input.str('note');
      const tags = input.list('tag');
      const params: BookmarkCreateParams = { container: input.need('container', 'C'), name: input.pos(0) };
      if (tags.length > 0) params.tags = tags;
      if (note !== undefined) params.note = note;
      if (input.flag('share')) params.share = true;
      return { params, git: gitOverrides(input) };
    },
  },
  'bookmark list': {
    usage: '[--container C [--branch B | --orphaned]] [--shared] [--newest] [--limit N [--after ID]] | --remote R',
    summary: 'List the bookmarks you can see, oldest first: yours and shared ones (or those a remote holds)',
    positionals: [],
    options: {
      remote: { type: 'string', arg: 'R', help: 'list what remote R holds instead (alone)' },
      container: containerOpt('only bookmarks taken in this container'),
      branch: { type: 'string', arg: 'B', help: 'with --container: only those taken on this branch' },
      orphaned: { type: 'boolean', help: 'with --container: only those whose branch was deleted' },
      shared: { type: 'boolean', help: 'only shared bookmarks' },
      newest: { type: 'boolean', help: 'newest first (pages with --after follow the same order)' },
      limit: { type: 'string', arg: 'N', help: 'at most N of them (1-10000): one page' },
      after: { type: 'string', arg: 'ID', help: 'the page after the one that ended with bookmark ID' },
    },
    build: (input) => {
      const remote = input.str('remote');
      if (remote !== undefined) {
        const others = ['container', 'branch', 'limit', 'after'].filter((o) => input.str(o) !== undefined)
          .concat(['orphaned', 'shared', 'newest'].filter((o) => input.flag(o)));
        if (others.length) throw new UsageError(`--remote lists a remote's bookmarks and takes no --${others.join(', --')}`);
        return { remote };
      }
      const container = input.str('container');
      const branch = input.str('branch');
      const limit = input.int('limit', 1, 10_000);
      const after = input.str('after');
      return {
        ...(container ? { container } : {}), ...(branch !== undefined ? { branch } : {}),
        ...(input.flag('orphaned') ? { orphaned: true } : {}), ...(input.flag('shared') ? { shared: true } : {}),
        ...(input.flag('newest') ? { newest: true } : {}),
        ...(limit !== undefined ? { limit } : {}), ...(after !== undefined ? { after } : {}),
      };
    },
  },
  'bookmark show': {
    usage: 'B [--container C]',
    summary: "Show a bookmark's tags, note, git commit, owner and sharing",
    positionals: ['B'],
    options: { container: scopeOpt },
    notes: [bookmarkRefNote],
    build: bookmarkRef,
  },
  'bookmark share': {
    usage: 'B [--container C]',
    summary: 'Share a bookmark with everyone whose containers come from the same template',
    positionals: ['B'],
    options: { container: scopeOpt },
    notes: [bookmarkRefNote],
    build: bookmarkRef,
  },
  'bookmark unshare': {
    usage: 'B [--container C]',
    summary: 'Make a shared bookmark private again',
    positionals: ['B'],
    options: { container: scopeOpt },
    notes: [bookmarkRefNote],
    build: bookmarkRef,
  },
  'bookmark tag': {
    usage: 'B [--add T...] [--remove T...] [--container C]',
    summary: "Add or remove a bookmark's tags",
    positionals: ['B'],
    options: {
      add: { type: 'string', multiple: true, absorb: true, arg: 'T...', help: 'tags to add (repeat the flag or list several)' },
      remove: { type: 'string', multiple: true, absorb: true, arg: 'T...', help: 'tags to remove (repeat the flag or list several)' },
      container: scopeOpt,
    },
    notes: [bookmarkRefNote],
    build: (input) => {
      const add = input.list('add');
      const remove = input.list('remove');
      if (add.length === 0 && remove.length === 0) throw new UsageError('needs --add T or --remove T');
      return { ...bookmarkRef(input), ...(add.length ? { add } : {}), ...(remove.length ? { remove } : {}) };
    },
  },
  'bookmark delete': {
    usage: 'B [--container C]',
    summary: 'Delete a bookmark',
    positionals: ['B'],
    options: { container: scopeOpt },
    notes: [bookmarkRefNote],
    build: bookmarkRef,
  },
  'bookmark link': {
    usage: 'B [--container C] [--remote R] [--scheme vscode]',
    summary: 'Share a bookmark and print its link and a Markdown line for a pull-request comment',
    positionals: ['B'],
    options: {
      container: scopeOpt,
      remote: { type: 'string', arg: 'R', help: 'push the bookmark to remote R first; the link names R, and other engines pull it from there' },
      scheme: { type: 'string', arg: 'SCHEME', help: 'the editor the link opens: vscode (default), vscode-insiders, code-oss…' },
    },
    notes: [bookmarkRefNote, 'Whoever opens the link must be able to reach this engine, or, with --remote, have a remote of the same location (with their own credentials).'],
    build: (input) => {
      const remote = input.str('remote');
      return { ...bookmarkRef(input), scheme: input.str('scheme') ?? 'vscode', ...(remote !== undefined ? { remote } : {}) };
    },
  },
  'bookmark push': {
    usage: 'B --remote R [--container C]',
    summary: 'Upload a bookmark (and its template version) to a remote: only what the remote lacks',
    positionals: ['B'],
    options: { remote: { type: 'string', arg: 'R', help: 'the remote (see remote list)' }, container: scopeOpt },
    notes: [bookmarkRefNote, 'An interrupted push keeps what it uploaded; pushing again sends the rest. The bookmark shows on the remote only once all of it is there.'],
    build: (input) => ({ ...bookmarkRef(input), remote: input.need('remote', 'R') }),
  },
  'bookmark pull': {
    usage: 'B --remote R',
    summary: 'Bring a bookmark from a remote into this engine: only the chunks this engine lacks cross the network',
    positionals: ['B'],
    options: { remote: { type: 'string', arg: 'R', help: 'the remote (see remote list)' } },
    notes: ["B is the remote bookmark's id, or a name unique on the remote (see bookmark list --remote R). Its template version comes too when this engine lacks it."],
    build: (input) => ({ bookmark: input.pos(0), remote: input.need('remote', 'R') }),
  },
  'remote add': {
    usage: 'NAME s3://BUCKET[/PREFIX] [--endpoint URL] [--region R] [--encrypt | --key-file FILE]',
    summary: 'Add an S3-compatible remote that bookmarks are pushed to and pulled from (admins)',
    positionals: ['NAME', 'URL'],
    options: {
      endpoint: { type: 'string', arg: 'URL', help: 'an S3-compatible store other than AWS: MinIO, Ceph RGW, R2… (http(s)://HOST[:PORT])' },
      region: { type: 'string', arg: 'R', help: 'the bucket\'s region (default: $AWS_REGION, else us-east-1)' },
      encrypt: { type: 'boolean', help: 'encrypt everything pushed there (AES-256-GCM) with a new key this engine keeps; see remote key' },
      'key-file': { type: 'string', arg: 'FILE', help: "the key of a remote another engine encrypted (what its 'remote key NAME' printed)" },
    },
    notes: ['Credentials are never given here: the engine reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE and ~/.aws, from its own environment. The bucket must answer before the remote is added.'],
    build: (input) => {
      const endpoint = input.str('endpoint');
      const region = input.str('region');
      const keyFile = input.str('key-file');
      if (keyFile !== undefined && input.flag('encrypt')) throw new UsageError('--encrypt makes a new key and --key-file gives one: pass one of them');
      return {
        name: input.pos(0), url: input.pos(1), ...(endpoint !== undefined ? { endpoint } : {}), ...(region !== undefined ? { region } : {}),
        ...(input.flag('encrypt') ? { encrypt: true } : {}), ...(keyFile !== undefined ? { key: readKeyFile(input.abs(keyFile)) } : {}),
      };
    },
  },
  'remote key': {
    usage: 'NAME',
    summary: "Print an encrypted remote's key, for another engine's remote add --key-file (admins)",
    positionals: ['NAME'],
    options: {},
    notes: ['Whoever holds the key can read everything pushed to the remote: pass it as you would a password.'],
    build: (input) => ({ name: input.pos(0) }),
  },
  'remote list': {
    usage: '',
    summary: 'List the remotes',
    positionals: [],
    options: {},
    build: noArgs,
  },
  'remote remove': {
    usage: 'NAME',
    summary: 'Forget a remote (what it holds stays there) (admins)',
    positionals: ['NAME'],
    options: {},
    build: (input) => ({ name: input.pos(0) }),
  },
  open: {
    usage: 'LINK --container C [--branch NAME] [--hooks]',
    summary: 'Open a bookmark link (or id): branch from the bookmark into your container and activate it',
    positionals: ['LINK'],
    options: {
      container: containerOpt('your container, made from the same template as the bookmark (for a bookmark pulled from a remote, made when you have none by this name)'),
      branch: { type: 'string', arg: 'NAME', help: "the new branch's name (default: from the bookmark's name)" },
      hooks: hooksOpt('afterSwitch'),
    },
    notes: ['For a link to a team engine, pass --engine and --token (or set SLIPSTREAM_ENGINE and SLIPSTREAM_TOKEN).',
      "A link that names a remote (bookmark link --remote) and another engine is pulled from this engine's remote of the same location first: only the chunks this engine lacks cross the network.", hooksNote],
    build: (input) => {
      const branch = input.str('branch');
      return { link: input.pos(0), container: input.need('container', 'C'), ...(branch ? { branch } : {}), ...hooksFrom(input) };
    },
  },
  restore: {
    usage: 'B --container C [--hooks]  |  restore --at TIME --container C [--hooks]',
    summary: "Restore: rewind the container's active branch to a bookmark, or to any moment of its history",
    positionals: ['B'],
    positionalsOptional: true,
    options: {
      container: containerOpt('the container whose active branch is rewound'),
      at: { type: 'string', arg: 'TIME', help: `the moment to rebuild, instead of a bookmark: ${MOMENT_FORMS}` },
      hooks: hooksOpt('afterRestore'),
    },
    notes: [bookmarkRefNote, 'With --at, no bookmark is needed: the branch\'s archived WAL is replayed on the nearest snapshot before TIME. '
      + 'A moment before the branch existed, in the future, or past retention is refused with the range that can be restored.', hooksNote],
    build: (input) => {
      const container = input.need('container', 'C');
      const at = input.str('at');
      if (at !== undefined) {
        if (input.pos(0) !== undefined) throw new UsageError(`give a bookmark or --at, not both ('${input.pos(0)}' and --at ${at})`);
        const parsed = parseMoment(at, Date.now());
        if ('problem' in parsed) throw new UsageError(parsed.problem);
        return { container, at, ...hooksFrom(input) };
      }
      if (input.pos(0) === undefined || input.pos(0) === '') throw new UsageError('missing B (a bookmark), or --at TIME');
      return { container, bookmark: input.pos(0), ...hooksFrom(input) };
    },
  },
  reset: {
    usage: '--container C [--hooks]',
    summary: 'Reset: discard the changes made on the active branch since its last operation',
    positionals: [],
    options: { container: containerOpt('the container whose active branch is reset'), hooks: hooksOpt('afterRestore') },
    notes: ['A reset is a restore to the point the branch last had, so --hooks runs the afterRestore hooks.', hooksNote],
    build: (input) => ({ container: input.need('container', 'C'), ...hooksFrom(input) }),
  },
  refresh: {
    usage: '--container C [--hooks]',
    summary: "Refresh: replace the active branch's data with the template's latest version",
    positionals: [],
    options: { container: containerOpt('the container to refresh'), hooks: hooksOpt('afterRefresh') },
    notes: [hooksNote],
    build: (input) => ({ container: input.need('container', 'C'), ...hooksFrom(input) }),
  },
  timeline: {
    usage: '--container C [--limit N] [--before SEQ]',
    summary: "Show a container's timeline, newest first: who did what, when, on which branch and bookmark",
    positionals: [],
    options: {
      container: containerOpt('the container whose timeline is shown'),
      limit: { type: 'string', arg: 'N', help: 'at most N events (1-100000, default 1000): one page' },
      before: { type: 'string', arg: 'SEQ', help: 'the older page after the one whose oldest event was SEQ' },
    },
    notes: ['When older events are left, the output ends with the command for the next page; with --json, "before" is its SEQ.'],
    build: (input) => {
      const limit = input.int('limit', 1, 100_000);
      const before = input.int('before', 1, Number.MAX_SAFE_INTEGER);
      return {
        container: input.need('container', 'C'),
        ...(limit !== undefined ? { limit } : {}), ...(before !== undefined ? { before } : {}),
      };
    },
  },
  'user add': {
    usage: 'NAME [--admin]',
    summary: "Add a user to a team engine and print the user's token (shown once)",
    positionals: ['NAME'],
    options: { admin: { type: 'boolean', help: 'the user may manage templates, users and the engine' } },
    notes: ['Give the token to the user; they pass it with --token or SLIPSTREAM_TOKEN. Only its hash is kept.'],
    build: (input) => ({ name: input.pos(0), ...(input.flag('admin') ? { admin: true } : {}) }),
  },
  'user list': {
    usage: '',
    summary: "List a team engine's users",
    positionals: [],
    options: {},
    build: noArgs,
  },
  'user remove': {
    usage: 'NAME',
    summary: "Remove a user; their token stops working at once",
    positionals: ['NAME'],
    options: {},
    build: (input) => ({ name: input.pos(0) }),
  },
  whoami: {
    usage: '',
    summary: 'Show who the engine takes you for, and whether you are an admin',
    positionals: [],
    options: {},
    build: noArgs,
  },
};

export const commandIds = Object.keys(specs) as CommandId[];

/** Commands a user sees in help (engine run is only for engine start). */
export const visibleCommandIds = commandIds.filter((id) => !specs[id].hidden);

// ---------------------------------------------------------------- groups and help

interface GroupInfo { title: string; summary: string }
const groups: Readonly<Record<string, GroupInfo>> = {
  engine: { title: 'Engine', summary: 'The engine is the daemon that owns the metadata, the volumes and the databases.' },
  template: { title: 'Templates', summary: 'A template is a named golden dataset built from a source (empty, SQL files, a dump, a URL or a command).' },
  container: { title: 'Containers', summary: 'A container is your workspace made from a template: one PostgreSQL on a fixed port.' },
  branch: { title: 'Branches', summary: 'A branch is a line of data history inside a container; exactly one is active.' },
  bookmark: { title: 'Bookmarks', summary: 'A bookmark is an immutable, named snapshot of a branch, private or shared.' },
  remote: { title: 'Remotes', summary: 'A remote is S3-compatible object storage that bookmarks travel through between engines.' },
  user: { title: 'Users', summary: 'Users of a team engine (engine start --listen): each has a token; admins manage templates and users.' },
};
const operationsTitle = "Operations on a container's active branch";

const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  home: { type: 'string', arg: 'DIR', help: 'engine home (default: $SLIPSTREAM_HOME, else ~/.slipstream); its local engine, even when $SLIPSTREAM_ENGINE is set (a warning on stderr says so)' },
  engine: { type: 'string', arg: 'URL', help: 'a team engine, tcp://HOST:PORT or tls://HOST:PORT (also $SLIPSTREAM_ENGINE). Default: the local engine of the home' },
  'tls-ca': { type: 'string', arg: 'FILE', help: "CA certificate for a tls:// engine with a self-signed certificate (also $SLIPSTREAM_TLS_CA)" },
  token: { type: 'string', arg: 'T', help: 'access token for a team engine (also $SLIPSTREAM_TOKEN)' },
  json: { type: 'boolean', help: 'print exactly one JSON document on stdout, errors included' },
  help: { type: 'boolean', short: 'h', help: "show help; 'slipstream COMMAND --help' shows a command's options" },
};

const GETTING_STARTED = [
  'slipstream engine start',
  'slipstream template create shop --sql schema.sql seed.sql',
  'slipstream container create dev --template shop',
  'export DATABASE_URL="$(slipstream container url dev)"',
  'slipstream bookmark create clean --container dev --note "before the tests"',
  '# ... run tests that change or destroy data ...',
  'slipstream restore clean --container dev',
  'slipstream branch create bug-1234 --container dev --from-bookmark clean --activate',
];

const groupOf = (id: CommandId): string | undefined => (id.includes(' ') ? id.split(' ')[0] : undefined);
const usageLine = (id: CommandId): string => `slipstream ${id}${specs[id].usage ? ' ' + specs[id].usage : ''}`;

function optionLabel(name: string, spec: OptionSpec): string {
  const short = spec.short ? `-${spec.short}, ` : '';
  return `${short}--${name}${spec.arg ? ' ' + spec.arg : ''}`;
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const entries = Object.entries(options);
  const width = Math.max(...entries.map(([n, s]) => optionLabel(n, s).length)) + 2;
  return entries.map(([n, s]) => `  ${optionLabel(n, s).padEnd(width)}${s.help}`);
}

function summaryLines(ids: readonly CommandId[]): string[] {
  const width = Math.max(...visibleCommandIds.map((id) => id.length)) + 3; // one column across all groups
  return ids.map((id) => `  ${id.padEnd(width)}${specs[id].summary}`);
}

export function topHelp(): string {
  const lines = [
    'Slipstream: copy-on-write PostgreSQL branches and bookmarks.',
    '',
    'Usage: slipstream [--home DIR] [--engine URL] [--token T] [--json] COMMAND [ARGS]',
  ];
  for (const [group, info] of Object.entries(groups)) {
    lines.push('', `${info.title}: ${info.summary}`, ...summaryLines(visibleCommandIds.filter((id) => groupOf(id) === group)));
  }
  lines.push('', `${operationsTitle}:`, ...summaryLines(visibleCommandIds.filter((id) => !groupOf(id))));
  lines.push('', 'Getting started:', ...GETTING_STARTED.map((l) => '  ' + l));
  lines.push('', 'Global options (before or after the command):', ...optionLines(GLOBAL_OPTIONS));
  lines.push('', 'Exit status: 0 success, 1 the operation failed, 2 the command line is wrong, 130 interrupted.');
  lines.push("Run 'slipstream COMMAND --help' (e.g. 'slipstream branch create --help') for a command's options.");
  return lines.join('\n') + '\n';
}

export function groupHelp(group: string): string {
  const ids = visibleCommandIds.filter((id) => groupOf(id) === group);
  const lines = [`Usage: slipstream ${group} COMMAND`, '', groups[group].summary, '', 'Commands:'];
  for (const id of ids) lines.push(`  ${usageLine(id)}`, `      ${specs[id].summary}`);
  lines.push('', `Run 'slipstream ${group} COMMAND --help' for a command's options.`);
  return lines.join('\n') + '\n';
}

export function commandHelp(id: CommandId): string {
  const spec = specs[id];
  const lines = [`Usage: ${usageLine(id)}`, '', spec.summary + '.'];
  if (Object.keys(spec.options).length > 0) lines.push('', 'Options:', ...optionLines(spec.options));
  if (spec.notes) lines.push('', ...spec.notes);
  lines.push('', 'Global options: --home DIR, --engine URL, --token T, --json (see slipstream --help).');
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- parsing

const isGroup = (word: string): boolean => Object.prototype.hasOwnProperty.call(groups, word);
const isCommand = (words: string): words is CommandId => Object.prototype.hasOwnProperty.call(specs, words);
const globalTakesValue = (arg: string): boolean => {
  const name = arg.replace(/^--?/, '');
  return GLOBAL_OPTIONS[name]?.type === 'string' && arg.startsWith('--');
};
const isGlobalFlag = (arg: string): boolean =>
  arg === '-h' || (arg.startsWith('--') && GLOBAL_OPTIONS[arg.slice(2).split('=')[0]] !== undefined);
const wantsHelp = (args: readonly string[]): boolean => {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
};
const hintFor = (words: string): string => `Run 'slipstream ${words ? words + ' ' : ''}--help' for usage.`;

/** The command words (e.g. ['bookmark', 'create']) and the argv without them.
 *  Only global options may come before the command words. */
function splitCommandWords(argv: readonly string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  let i = 0;
  for (; i < argv.length && !commandComplete(words); i++) {
    const arg = argv[i];
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-') {
      words.push(arg);
    } else if (isGlobalFlag(arg)) {
      rest.push(arg);
      if (globalTakesValue(arg) && !arg.includes('=')) {
        if (i + 1 >= argv.length) throw new UsageError(`option '${arg}' needs a value`);
        rest.push(argv[++i]);
      }
    } else {
      throw new UsageError(`unknown option '${arg}'${words.length ? '' : ' (options go after the command)'}`);
    }
  }
  return { words, rest: rest.concat(argv.slice(i)) };
}

function commandComplete(words: readonly string[]): boolean {
  if (words.length === 0) return false;
  if (words[0] === 'help') return false; // help takes its topic words
  return !isGroup(words[0]) || words.length >= 2;
}

type Tokens = NonNullable<ReturnType<typeof parseArgs>['tokens']>;

function parseFlags(id: string, rest: string[], options: Readonly<Record<string, OptionSpec>>) {
  const config: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, o] of Object.entries({ ...GLOBAL_OPTIONS, ...options })) {
    config[name] = { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) };
  }
  try {
    return parseArgs({ args: joinNegativeValues(rest, config), options: config, strict: true, allowPositionals: true, tokens: true });
  } catch (err) {
    throw new UsageError(parseArgsMessage(err, id));
  }
}

/** node:util takes `--limit -1` for an option where a value belongs ("ambiguous"). No
 *  option looks like a number, so a negative number after a string option is its
 *  value: pass it as `--limit=-1`, and the option's own check says what range it wants. */
function joinNegativeValues(args: readonly string[], config: Record<string, { type: 'string' | 'boolean' }>): string[] {
  const takesValue = (arg: string): boolean => config[/^--([^=]+)$/.exec(arg)?.[1] ?? '']?.type === 'string';
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') return out.concat(args.slice(i));
    if (takesValue(args[i]) && /^-\d/.test(args[i + 1] ?? '')) out.push(`${args[i]}=${args[++i]}`);
    else out.push(args[i]);
  }
  return out;
}

/** node:util's messages are long and mention positionals generically; keep the useful part. */
function parseArgsMessage(err: unknown, id: string): string {
  const e = err as { code?: string; message?: string };
  const quoted = /'([^']+)'/.exec(e.message ?? '')?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted) return `unknown option '${quoted}' for '${id}'`;
  const firstLine = (e.message ?? String(err)).split('\n')[0];
  return firstLine.charAt(0).toLowerCase() + firstLine.slice(1);
}

/** Positionals and list values in order; a positional after an absorbing flag belongs to that flag. */
function collect(tokens: Tokens, options: Readonly<Record<string, OptionSpec>>) {
  const positionals: string[] = [];
  const lists: Record<string, string[]> = {};
  let absorbing: string | undefined;
  for (const t of tokens) {
    if (t.kind === 'option-terminator') {
      absorbing = undefined;
    } else if (t.kind === 'option') {
      const spec = options[t.name];
      absorbing = spec?.absorb ? t.name : undefined;
      if (spec?.multiple && t.value !== undefined) (lists[t.name] ??= []).push(t.value);
    } else if (absorbing) {
      lists[absorbing].push(t.value);
    } else {
      positionals.push(t.value);
    }
  }
  return { positionals, lists };
}

function checkPositionals(id: CommandId, positionals: readonly string[], lists: Record<string, string[]>): void {
  const wanted = specs[id].positionals;
  if (positionals.length > wanted.length) throw new UsageError(`unexpected argument '${positionals[wanted.length]}'`);
  for (let i = 0; i < wanted.length && !specs[id].positionalsOptional; i++) {
    if (positionals[i] === undefined || positionals[i] === '') {
      const absorbed = Object.keys(lists).find((name) => specs[id].options[name]?.absorb && lists[name].length > 0);
      throw new UsageError(`missing ${wanted[i]}${absorbed ? ` (put ${wanted[i]} before --${absorbed})` : ''}`);
    }
  }
}

/** `from` names where the URL came from, for the error: --engine or SLIPSTREAM_ENGINE.
 *  The target keeps the URL's canonical form, which is what bookmark links carry. */
export function resolveTarget(engine: string | undefined, token: string | undefined, tlsCa?: string, from = '--engine'): EngineTarget {
  if (!engine) return { kind: 'local' };
  const url = parseEngineUrl(engine);
  if (isParseError(url)) throw new UsageError(`${from}: ${url.error}`);
  return { kind: 'tcp', url: formatEngineUrl(url), ...(token ? { token } : {}), ...(tlsCa ? { tlsCa } : {}) };
}

function globalsFrom(values: Record<string, unknown>, env: ParseEnv['env']): GlobalFlags {
  const str = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const home = str('home');
  const engineFlag = str('engine');
  if (home && engineFlag) {
    throw new UsageError(`--home names a local engine (${home}) and --engine a team engine (${engineFlag}): give one of them, not both`);
  }
  // A flag beats the environment: --home means that home's local engine, whatever SLIPSTREAM_ENGINE
  // says. It is said on stderr, so a user who expected the team engine sees why it was not used.
  const envEngine = env.SLIPSTREAM_ENGINE;
  const engine = engineFlag ?? (home ? undefined : envEngine);
  const warnings = home && envEngine ? [homeBeatsEnvEngine(home, envEngine)] : [];
  return {
    ...(home ? { home } : {}),
    ...(warnings.length ? { warnings } : {}),
    json: values.json === true,
    target: resolveTarget(engine, str('token') ?? env.SLIPSTREAM_TOKEN, str('tls-ca') ?? env.SLIPSTREAM_TLS_CA,
      engineFlag === undefined ? 'SLIPSTREAM_ENGINE' : '--engine'),
  };
}

export function homeBeatsEnvEngine(home: string, envEngine: string): string {
  return `warning: --home ${home} wins over SLIPSTREAM_ENGINE=${hideSecrets(envEngine)}: using the local engine of ${home}. `
    + 'To use the team engine, drop --home; to silence this, unset SLIPSTREAM_ENGINE.';
}

function helpFor(words: readonly string[]): string {
  const joined = words.join(' ');
  if (words.length === 0) return topHelp();
  if (isCommand(joined)) return commandHelp(joined);
  if (words.length === 1 && isGroup(words[0])) return groupHelp(words[0]);
  throw new UsageError(`no help for '${joined}': unknown command`);
}

/** `slipstream help [COMMAND...]`: the topic words were collected as command words. */
function parseHelpCommand(topic: readonly string[], rest: string[]): ParseOutcome {
  parseFlags('help', rest, {}); // still rejects unknown flags
  return { kind: 'help', text: helpFor(topic), exitCode: 0 };
}

function parseCommand(id: CommandId, rest: string[], env: ParseEnv): ParseOutcome {
  const spec = specs[id];
  const { values, tokens } = parseFlags(id, rest, spec.options);
  const { positionals, lists } = collect(tokens, spec.options);
  checkPositionals(id, positionals, lists);
  const flat: Record<string, string | boolean | undefined> = {};
  for (const [k, v] of Object.entries(values)) if (!Array.isArray(v)) flat[k] = v;
  const input = new Input(positionals, flat, lists, env.cwd);
  return { kind: 'run', globals: globalsFrom(values, env.env), command: { id, args: spec.build(input) } as ParsedCommand };
}

/** Words that name a command, or a usage error that says what is wrong with them. */
function commandFor(words: readonly string[], help: boolean): CommandId | ParseOutcome {
  const joined = words.join(' ');
  if (isCommand(joined)) return joined;
  if (words.length === 0) return { kind: 'help', text: topHelp(), exitCode: help ? 0 : 2 };
  if (!isGroup(words[0])) throw new UsageError(`unknown command '${words[0]}'`);
  if (words.length === 1) return { kind: 'help', text: groupHelp(words[0]), exitCode: help ? 0 : 2 };
  throw new UsageError(`unknown ${words[0]} command '${words[1]}'; try one of: ${visibleCommandIds.filter((id) => groupOf(id) === words[0]).map((id) => id.split(' ')[1]).join(', ')}`);
}

function describeUsageError(words: readonly string[], message: string): { message: string; hint: string } {
  const known = words.join(' ');
  if (isCommand(known)) return { message: `${known}: ${message}`, hint: hintFor(known) };
  if (words.length > 0 && isGroup(words[0])) return { message, hint: hintFor(words[0]) };
  return { message, hint: hintFor('') };
}

export function parseCommandLine(argv: readonly string[], env: ParseEnv): ParseOutcome {
  const json = argv.includes('--json');
  let words: string[] = [];
  try {
    const split = splitCommandWords(argv);
    words = split.words;
    if (words[0] === 'help') return parseHelpCommand(words.slice(1), split.rest);
    const help = wantsHelp(split.rest);
    const found = commandFor(words, help);
    if (typeof found !== 'string') return found;
    if (help) return { kind: 'help', text: commandHelp(found), exitCode: 0 };
    return parseCommand(found, split.rest, env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return { kind: 'error', ...describeUsageError(words, err.message), json };
  }
}

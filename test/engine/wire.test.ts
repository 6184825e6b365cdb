import assert from 'node:assert/strict';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { connectEngine } from '../../server/common/client';
import { homeFiles } from '../../server/common/home';
import { EngineStatusRequest, allRequests, type BookmarkInfo, type BranchInfo, type ContainerInfo, type TemplateInfo } from '../../server/protocol';
import { FIXTURES } from '../support/engine';
import { RawSocket, Remote, frame, request, rssKiB, startTeamEngine, type RawMessage, type TeamEngine } from '../support/team';
import { prng } from '../support/prng';

/**
 * Hostile bytes on the engine's two doors, the Unix socket and the TCP port:
 * malformed JSON, bad framing, oversized messages, unknown methods, wrong
 * parameter types, silence, hanging up mid-request, and a seeded fuzz run.
 * Each gets an error answer or a closed connection, and afterwards the engine
 * (same pid) serves a normal client and every bit of data is as it was.
 */
let t: TeamEngine;
let pid: number;
let fuzzToken: string;
let tried = 0;
let state: () => Promise<string>;
const sock = () => homeFiles(t.e.home).socket;

before(async () => {
  t = await startTeamEngine();
  const e = t.e;
  e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  e.ok('container', 'create', 'qa', '--template', 'employees');
  e.ok('bookmark', 'create', 'base', '--container', 'qa');
  fuzzToken = new Remote(e, t.url, t.adminToken).ok<{ token: string }>('user', 'add', 'fuzzer').token;
  pid = e.ok<{ pid: number }>('engine', 'status').pid;
  state = async () => JSON.stringify({
    t: e.ok<TemplateInfo[]>('template', 'list').map((x) => [x.name, x.latestVersion]),
    c: e.ok<ContainerInfo[]>('container', 'list').map((c) => [c.name, c.port, c.activeBranch, c.branches, c.state]),
    b: e.ok<BranchInfo[]>('branch', 'list', '--container', 'qa').map((b) => [b.name, b.active]),
    m: e.ok<BookmarkInfo[]>('bookmark', 'list').map((b) => [b.id, b.name, b.shared, b.tags]),
    d: await e.checksum('qa'),
  });
});
after(async () => t?.e.destroy());

/** Send bytes on a fresh connection; then the connection must be closed, or a probe must still be answered. */
async function send(door: 'unix' | 'tcp', bytes: Buffer | string, expect: 'closed' | 'alive' | 'either' = 'either', ms = 5000): Promise<'closed' | 'alive'> {
  const raw = door === 'unix' ? await RawSocket.unix(sock()) : await RawSocket.tcp(t.port);
  tried++;
  try {
    await raw.write(bytes);
    if (expect === 'closed') {
      assert.ok(await raw.closesWithin(ms), `expected the engine to close the connection after ${JSON.stringify(bytes.toString().slice(0, 80))}`);
      return 'closed';
    }
    await raw.write(request('probe', 'engine/status', {}));
    const a = await raw.answer('probe', ms);
    const outcome = a ? 'alive' : 'closed';
    if (!a) assert.ok(await raw.closesWithin(ms), `neither answered nor closed after ${JSON.stringify(bytes.toString().slice(0, 80))}`);
    if (expect !== 'either') assert.equal(outcome, expect, `after ${JSON.stringify(bytes.toString().slice(0, 80))}`);
    return outcome;
  } finally {
    raw.destroy();
  }
}

/** One request on a fresh Unix connection; its answer. */
async function ask(method: string, params?: unknown, door: 'unix' | 'tcp' = 'unix'): Promise<RawMessage> {
  const raw = door === 'unix' ? await RawSocket.unix(sock()) : await RawSocket.tcp(t.port);
  tried++;
  try {
    await raw.write(request(1, method, params));
    const a = await raw.answer(1);
    assert.ok(a, `${method} ${JSON.stringify(params)}: no answer`);
    return a;
  } finally {
    raw.destroy();
  }
}

async function healthy(): Promise<void> {
  const client = await connectEngine({ home: t.e.home });
  try {
    const st = await client.request(EngineStatusRequest.type, {});
    assert.equal(st.pid, pid, 'the same engine process: it never died');
  } finally {
    await client.close();
  }
}

/** Around a suite: the engine stays healthy and its state is what it was before. */
function changesNothing(what: string): void {
  let before0: string;
  before(async () => { before0 = await state(); });
  after(async () => {
    await healthy();
    assert.equal(await state(), before0, `${what} changed nothing`);
  });
}

describe('framing and JSON', () => {
  changesNothing('bad framing');

  for (const door of ['unix', 'tcp'] as const) {
    test(`${door}: malformed JSON closes the connection`, async () => {
      await send(door, frame('{"jsonrpc": "2.0", "id": 1, "method": '), 'closed');
      await send(door, frame('not json at all'), 'closed');
      await send(door, frame(Buffer.from([0xff, 0xfe, 0x00, 0x81])), 'closed');
    });

    test(`${door}: bad Content-Length closes the connection`, async () => {
      await send(door, 'Content-Length: abc\r\n\r\n{}', 'closed');
      await send(door, 'Content-Length: -5\r\n\r\n{}', 'closed');
      await send(door, 'Content-Type: application/json\r\n\r\n{}', 'closed');
      await send(door, 'no header at all\r\n\r\n', 'closed');
      await send(door, 'X-Junk: ' + 'a'.repeat(16 * 1024), 'closed');
      await send(door, 'Content-Length: 99999999999999999999999\r\n\r\n', 'closed');
    });

    test(`${door}: an oversized message (> 1 MiB) is refused from its header`, async () => {
      // The header alone is enough: the engine does not wait for (or buffer) the body.
      await send(door, 'Content-Length: 2097152\r\n\r\n', 'closed', 3000);
      const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'bookmark/create', params: { container: 'qa', name: 'x', note: 'n'.repeat(1_100_000) } });
      await send(door, frame(big), 'closed');
      // Just under the limit is answered (with an error: the note is too long).
      const raw = door === 'unix' ? await RawSocket.unix(sock()) : undefined;
      if (raw) {
        const fits = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'bookmark/create', params: { container: 'qa', name: 'x', note: 'n'.repeat(1_000_000) } });
        await raw.write(frame(fits));
        assert.equal((await raw.answer(1))?.error?.data?.code, 'InvalidArgument');
        raw.destroy();
      }
    });
  }

  test('headers that announce two lengths are refused: the size limit cannot be bypassed', async () => {
    // The guard must read the length the JSON-RPC reader reads; otherwise a client can
    // announce 2 bytes to the guard and 100 MiB to the reader, and stream frames the
    // guard accepts into one body the reader buffers in memory.
    const raw = await RawSocket.unix(sock());
    tried++;
    const rssBefore = rssKiB(pid);
    try {
      await raw.write('Content-Length: 2\r\nContent-Length: 104857600\r\n\r\n{}');
      let sent = 0;
      const chunk = frame(Buffer.alloc(1024 * 1024 - 64, 'x'));
      while (!raw.closed && sent < 48) {
        await raw.write(chunk);
        sent++;
      }
      await new Promise((r) => setTimeout(r, 300));
      const grew = rssKiB(pid) - rssBefore;
      console.log(`two Content-Length headers: ${sent} MiB streamed before the engine ${raw.closed ? 'closed' : 'did NOT close'} the connection; engine RSS grew ${Math.round(grew / 1024)} MiB`);
      assert.ok(raw.closed || (await raw.closesWithin(1000)), `the engine kept reading after ${sent} MiB on a message whose header says 100 MiB`);
      // What the client managed to write says little (the kernel buffers it after the engine
      // hung up); what counts is that the engine closed and did not hold the body in memory.
      assert.ok(grew < 16 * 1024, `the engine's memory grew ${Math.round(grew / 1024)} MiB for one refused message`);
    } finally {
      raw.destroy();
    }
  });

  test('JSON that is not a request (a bare value, a batch, an unsolicited response) is ignored or closed', async () => {
    for (const body of ['42', 'null', '"x"', '[]', '[{"jsonrpc":"2.0","id":1,"method":"engine/status"}]',
      '{"jsonrpc":"2.0","id":9,"result":{}}', '{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":12345}}',
      '{"jsonrpc":"2.0","method":"slipstream/changed","params":{}}', '{}']) {
      await send('unix', frame(body));
    }
  });
});

describe('requests with bad methods and params', () => {
  changesNothing('bad requests');

  test('unknown methods get MethodNotFound and the connection stays', async () => {
    const raw = await RawSocket.unix(sock());
    try {
      const names = ['nope', 'engine/nope', 'container/drop', '', '__proto__', 'constructor', 'toString', '$/nope', 'x'.repeat(5000)];
      for (const [i, m] of names.entries()) {
        tried++;
        await raw.write(request(i + 1, m, {}));
        const a = await raw.answer(i + 1);
        assert.equal(a?.error?.code, -32601, `${m.slice(0, 20)}: ${JSON.stringify(a)}`);
      }
      await raw.write(request('ok', 'engine/status', {}));
      assert.ok((await raw.answer('ok'))?.result, 'still answering');
    } finally {
      raw.destroy();
    }
  });

  test('wrong parameter types get InvalidArgument or InvalidName, never Internal', async () => {
    const cases: Array<[string, unknown]> = [
      ['container/create', { name: 5, template: 'employees' }],
      ['container/create', { name: 'x', template: 'employees', port: 'abc' }],
      ['container/create', { name: 'x', template: 'employees', port: 70000 }],
      ['container/create', { name: 'x', template: ['employees'] }],
      ['container/show', { name: null }],
      ['container/url', { name: { $ne: '' } }],
      ['branch/create', { container: [], name: 'x' }],
      ['branch/create', { container: 'qa', name: 'x', from: 'template' }],
      ['branch/create', { container: 'qa', name: 'x', from: { kind: 'elsewhere' } }],
      ['branch/create', { container: 'qa', name: 'x', activate: 'yes' }],
      ['branch/activate', { container: 'qa', name: 7 }],
      ['bookmark/create', { container: 'qa', name: 'x', tags: 'notarray' }],
      ['bookmark/create', { container: 'qa', name: 'x', tags: [1, 2] }],
      ['bookmark/create', { container: 'qa', name: 'x', git: 'main' }],
      ['bookmark/create', { container: 'qa', name: 'x', share: 1 }],
      ['bookmark/list', { shared: 'true' }],
      ['bookmark/tag', { bookmark: 'base', add: [{}] }],
      ['restore', { container: 'qa', bookmark: {} }],
      ['restore', { container: 'qa' }],
      ['timeline', { container: 'qa', limit: 'ten' }],
      ['timeline', { container: 'qa', limit: -1 }],
      ['timeline', { container: 'qa', limit: 1.5 }],
      ['timeline', { container: 'qa', before: '3' }],
      ['timeline', { container: 'qa', before: 0 }],
      ['timeline', { container: 'qa', before: 2.5 }],
      ['template/create', { name: 'x', source: { kind: 'command' } }],
      ['template/create', { name: 'x', source: 'empty' }],
      ['template/create', { name: 'x', source: { kind: 'sql', files: 'a.sql' } }],
      ['user/add', { name: 'x', admin: 'yes' }],
      ['user/remove', { name: 12 }],
      ['engine/authenticate', { token: 12 }],
      ['container/show', 'qa'],
      ['container/show', 42],
      ['container/show', null],
    ];
    const seen = new Map<string, number>();
    for (const [method, params] of cases) {
      const a = await ask(method, params);
      const code = a.error?.data?.code ?? (a.error ? `rpc ${a.error.code}` : 'ok');
      seen.set(code, (seen.get(code) ?? 0) + 1);
      assert.ok(a.error, `${method} ${JSON.stringify(params)} was accepted`);
      assert.ok(['InvalidArgument', 'InvalidName'].includes(String(a.error.data?.code)) || a.error.code === -32602,
        `${method} ${JSON.stringify(params)}: ${JSON.stringify(a.error)}`);
    }
    console.log(`wrong param types: ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  test('params left out (allowed by JSON-RPC) mean {} for requests that take none', async () => {
    for (const method of ['engine/status', 'container/list', 'template/list', 'user/whoami']) {
      const a = await ask(method);
      assert.ok(a.result !== undefined, `${method} without params: ${JSON.stringify(a.error)}`);
    }
  });

  test('params by position are refused cleanly, whatever follows the first', async () => {
    for (const params of [[{ name: 'qa' }, 5], [{ name: 'qa' }, { isCancellationRequested: true }], [1, 2, 3], []]) {
      const a = await ask('container/show', params);
      assert.ok(a.error, JSON.stringify(params));
      assert.notEqual(a.error.data?.code, 'Internal', `${JSON.stringify(params)}: ${a.error.message}`);
      assert.doesNotMatch(a.error.message, /Cannot read properties|is not a function/, `${JSON.stringify(params)}: a JavaScript error leaked`);
    }
  });
});

describe('silence and hanging up', () => {
  test('tcp: a client that connects and says nothing is closed after the auth timeout', async () => {
    const raw = await RawSocket.tcp(t.port);
    tried++;
    const start = Date.now();
    const closed = await raw.closesWithin(20_000);
    console.log(`silent TCP client: closed after ${Date.now() - start} ms`);
    raw.destroy();
    assert.ok(closed);
  });

  test('tcp: a client that keeps sending but never authenticates is closed too', async () => {
    const raw = await RawSocket.tcp(t.port);
    tried++;
    const start = Date.now();
    let n = 0;
    while (!raw.closed && Date.now() - start < 20_000) {
      await raw.write(request(++n, 'engine/status', {}));
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`chatty unauthenticated TCP client: closed after ${Date.now() - start} ms and ${n} requests`);
    raw.destroy();
    assert.ok(raw.closed);
    assert.ok(raw.messages.every((m) => m.error?.data?.code === 'Unauthorized'));
  });

  test('tcp: half a message, then silence: closed after the timeout', async () => {
    const raw = await RawSocket.tcp(t.port);
    tried++;
    await raw.write('Content-Length: 100\r\n\r\n{"jsonrpc":');
    assert.ok(await raw.closesWithin(20_000));
    raw.destroy();
  });

  test('a client that hangs up mid bookmark create or mid activate leaves a whole result or none', async () => {
    const e = t.e;
    const data = JSON.stringify(await e.checksum('qa'));
    e.ok('branch', 'create', 'other', '--container', 'qa', '--from-template');
    for (const [i, [method, params]] of ([
      ['bookmark/create', { container: 'qa', name: 'hung up 1' }],
      ['branch/activate', { container: 'qa', name: 'other' }],
      ['bookmark/create', { container: 'qa', name: 'hung up 2' }],
      ['branch/activate', { container: 'qa', name: 'main' }],
    ] as const).entries()) {
      const raw = await RawSocket.unix(sock());
      tried++;
      await raw.write(request(1, method, params));
      await new Promise((r) => setTimeout(r, 20 + 40 * i));
      raw.destroy();
      // The operation runs on without its client; wait until the container is free.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const r = e.cli('bookmark', 'create', `probe ${i}`, '--container', 'qa');
        if (r.code === 0) break;
        assert.match(r.stdout, /Busy/, r.stdout);
        assert.ok(Date.now() < deadline, 'the container stays busy');
        await new Promise((r) => setTimeout(r, 100));
      }
      e.ok('bookmark', 'delete', `probe ${i}`);
    }
    assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').activeBranch, 'main');
    assert.equal(JSON.stringify(await e.checksum('qa')), data, 'data as it was');
    for (const name of ['hung up 1', 'hung up 2']) {
      const bm = e.ok<BookmarkInfo[]>('bookmark', 'list').find((b) => b.name === name);
      assert.ok(bm, `${name}: the bookmark was made (the engine finished what it began)`);
      e.ok('restore', bm.id, '--container', 'qa');
      assert.equal(JSON.stringify(await e.checksum('qa')), data);
      e.ok('bookmark', 'delete', bm.id);
    }
    e.ok('branch', 'delete', 'other', '--container', 'qa');
    await healthy();
  });
});


test('seeded fuzz: a few hundred hostile messages on both doors; the engine stays healthy and the data intact', async () => {
  const seed = Number(process.env.SLIPSTREAM_FUZZ_SEED ?? 20240611);
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const int = (n: number) => Math.floor(rnd() * n);
  // Never a real name: the Unix door is the owner (an admin), and this must change nothing.
  const strings = ['', ' ', 'fz', 'fz-' + 'x'.repeat(70), '../../etc/passwd', 'a/b', '\u0000', '\u202e', 'Zoë', '-rf', '💥', "fz'; DROP TABLE employees; --", '%s%n', 'slp_' + 'A'.repeat(43), 'fz '.repeat(400)];
  const value = (depth: number): unknown => {
    switch (int(depth > 3 ? 5 : 9)) {
      case 0: return pick(strings);
      case 1: return pick([0, -1, 1.5, 2 ** 53, -(2 ** 31), 1e308, 65536]);
      case 2: return pick([true, false, null]);
      case 3: return 'fz' + 'y'.repeat(int(5000));
      case 4: return pick(['qa', 'employees', 'base', 'main']).concat('-fz');
      case 5: return Array.from({ length: int(5) }, () => value(depth + 1));
      case 6: return { __proto__: { admin: true }, kind: pick(['template', 'bookmark', 'branch', 'empty', 'sql', 'url', 'command', 'dump']) };
      default: {
        const o: Record<string, unknown> = {};
        for (const k of ['name', 'container', 'template', 'bookmark', 'token', 'from', 'source', 'port', 'tags', 'limit', 'admin', 'workDoneToken', 'git', 'note'].filter(() => rnd() < 0.4)) o[k] = value(depth + 1);
        return o;
      }
    }
  };
  const methods: string[] = allRequests.map((r) => r.method).filter((m) => m !== 'engine/shutdown');
  // The Unix door is the owner, an admin: it must not build a template out of a lucky {kind: 'empty'}.
  const unixMethods = methods.filter((m) => m !== 'template/create');
  const kinds = new Map<string, number>();
  const before0 = await state();
  const started = Date.now();
  const N = Number(process.env.SLIPSTREAM_FUZZ_N ?? 300);
  for (let i = 0; i < N && Date.now() - started < 120_000; i++) {
    const door = rnd() < 0.6 ? 'unix' : 'tcp';
    const auth = door === 'tcp' && rnd() < 0.5;
    let kind: string;
    let bytes: Buffer;
    const r = rnd();
    if (r < 0.45) {
      kind = 'random params';
      bytes = request(pick([int(1000), 'id-' + i, -1, 0.5]), pick(door === 'unix' ? unixMethods : methods), value(0));
    } else if (r < 0.55) {
      kind = 'random json';
      bytes = frame(JSON.stringify(value(0)));
    } else if (r < 0.62) {
      kind = 'random bytes';
      bytes = Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256)));
    } else if (r < 0.69) {
      kind = 'framed random bytes';
      bytes = frame(Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256))));
    } else if (r < 0.74) {
      kind = 'deep nesting';
      const d = 1000 + int(50_000);
      bytes = frame(`{"jsonrpc":"2.0","id":1,"method":"${pick(methods)}","params":${'['.repeat(d)}${']'.repeat(d)}}`);
    } else if (r < 0.79) {
      kind = 'odd ids';
      bytes = frame(JSON.stringify({ jsonrpc: '2.0', id: pick([{}, [], true, null, 1e400, 'x'.repeat(10000)]), method: pick(methods), params: {} }));
    } else if (r < 0.84) {
      kind = 'wrong jsonrpc version';
      bytes = frame(JSON.stringify({ jsonrpc: pick(['1.0', 2, null, '3.0']), id: 1, method: pick(methods), params: {} }));
    } else if (r < 0.89) {
      kind = 'many small requests';
      bytes = Buffer.concat(Array.from({ length: 50 + int(200) }, (_, k) => request(k, pick(methods), value(2))));
    } else if (r < 0.94) {
      kind = 'cancel storms';
      bytes = Buffer.concat(Array.from({ length: 50 }, (_, k) => frame(JSON.stringify({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: pick([k, 'x', null, {}]) } }))));
    } else {
      kind = 'header games';
      bytes = Buffer.from(pick([
        'Content-Length: 10\r\nContent-Length: 10\r\n\r\n{"a":1234}',
        'content-length:2\r\n\r\n{}',
        'Content-Length:   2   \r\nContent-Type: application/vscode-jsonrpc; charset=latin1\r\n\r\n{}',
        'Content-Length: 2\r\n\r\n{}Content-Length: 2\r\n\r\n[]',
        'Content-Length: 0\r\n\r\n',
        '\r\n\r\n\r\n\r\n',
        'Content-Length: 2\n\n{}',
      ]), 'latin1');
    }
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    const raw = door === 'unix' ? await RawSocket.unix(sock()) : await RawSocket.tcp(t.port);
    tried++;
    try {
      if (auth) {
        await raw.write(request('auth', 'engine/authenticate', { token: fuzzToken }));
        assert.ok((await raw.answer('auth'))?.result, 'authenticated');
      }
      await raw.write(bytes);
      await raw.write(request('probe', 'engine/status', {}));
      const a = await raw.answer('probe', 3000);
      if (!a && !raw.closed) {
        // Acceptable only when the bytes left the reader waiting for a body: then silence
        // is right, and the engine must not be stuck for anyone else.
        await healthy();
      }
    } finally {
      raw.destroy();
    }
  }
  await healthy();
  assert.equal(await state(), before0, 'the fuzz changed nothing');
  const fuzzerSees = new Remote(t.e, t.url, fuzzToken).ok<ContainerInfo[]>('container', 'list');
  assert.deepEqual(fuzzerSees, [], 'the fuzz made nothing');
  console.log(`fuzz seed ${seed}: ${[...kinds.values()].reduce((a, b) => a + b, 0)} hostile messages in ${Date.now() - started} ms: ${JSON.stringify(Object.fromEntries(kinds))}`);
  console.log(`bad inputs tried: ${tried}; engine pid unchanged; data lost = 0`);
});

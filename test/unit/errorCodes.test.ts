/** The typed error-code guards (issue 14): isErrorCodeName (protocol.ts) and hasErrorCode (common/client.ts). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ResponseError } from 'vscode-jsonrpc/node';
import { ClientError, ClientErrorCodes, hasErrorCode, toClientError } from '../../server/common/client';
import { ErrorCodes, isErrorCodeName } from '../../server/protocol';

test('isErrorCodeName: the protocol names, and nothing an object merely inherits', () => {
  for (const name of Object.keys(ErrorCodes)) assert.equal(isErrorCodeName(name), true, name);
  for (const value of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'notfound', 'NotFound ', '', -33003, null, undefined, {}, ['NotFound']]) {
    assert.equal(isErrorCodeName(value), false, JSON.stringify(value) ?? String(value));
  }
  // Client-only codes are not the engine's.
  for (const name of ClientErrorCodes) assert.equal(isErrorCodeName(name), false, name);
});

test('hasErrorCode: a ClientError with one of the codes, nothing else', () => {
  const busy = new ClientError('Busy', 'the container is busy');
  assert.equal(hasErrorCode(busy, 'Busy'), true);
  assert.equal(hasErrorCode(busy, 'InUse', 'Busy'), true);
  assert.equal(hasErrorCode(busy, 'InUse'), false);
  assert.equal(hasErrorCode(busy), false, 'no codes: no match');
  assert.equal(hasErrorCode(new ClientError('ConnectionLost', 'gone'), 'ConnectionLost'), true);
  // Things a catch block also sees: none has a client code, whatever it carries.
  const lookalike = Object.assign(new Error('busy'), { code: 'Busy' });
  for (const err of [lookalike, { code: 'Busy', message: 'x' }, 'Busy', undefined, null, new Error('Busy')]) {
    assert.equal(hasErrorCode(err, 'Busy'), false, String(err));
  }
});

test('hasErrorCode narrows the type, and an engine answer comes through with its name', () => {
  const err: unknown = toClientError(new ResponseError(ErrorCodes.NotFound, 'no container "x"', { code: 'NotFound' }), 'the log');
  if (!hasErrorCode(err, 'NotFound', 'Forbidden')) assert.fail(`expected NotFound, got ${String(err)}`);
  const code: 'NotFound' | 'Forbidden' = err.code; // compiles only because the guard narrowed it
  assert.equal(code, 'NotFound');
  assert.equal(err.message, 'no container "x"');
  // A code name the engine does not know falls back to the number.
  const byNumber = toClientError(new ResponseError(ErrorCodes.Busy, 'busy', { code: 'toString' }), 'the log');
  assert.ok(hasErrorCode(byNumber, 'Busy'), String(byNumber));
});

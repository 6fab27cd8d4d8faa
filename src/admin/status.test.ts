import test from 'ava';
import { status } from '@grpc/grpc-js';
import { ErrorCodes, PlbError, type ErrorCode } from '../core/errors.ts';
import { GRPC_STATUS_OF, errorFromThrown, grpcStatusOf, toServiceError } from './status.ts';

const codes = Object.keys(ErrorCodes) as ErrorCode[];

test('every error code of the catalogue maps to a gRPC status other than OK, and nothing else is mapped', (t) => {
  t.deepEqual(Object.keys(GRPC_STATUS_OF).sort(), [...codes].sort());
  for (const code of codes) {
    const s = grpcStatusOf(code);
    t.true(Number.isInteger(s) && s > status.OK && s <= status.UNAUTHENTICATED, `${code} → ${s}`);
  }
  t.is(grpcStatusOf('NOT_A_CODE'), status.INTERNAL);
});

const expected: Array<[ErrorCode, status]> = [
  ['IDENTITY_MALFORMED', status.INVALID_ARGUMENT],
  ['IDENTITY_MISSING', status.INVALID_ARGUMENT],
  ['ARGUMENT_INVALID', status.INVALID_ARGUMENT],
  ['USER_NOT_FOUND', status.NOT_FOUND],
  ['UNAUTHENTICATED', status.UNAUTHENTICATED],
  ['STORE_FAILED', status.UNAVAILABLE],
  ['ILLEGAL_TRANSITION', status.FAILED_PRECONDITION],
];
for (const [code, want] of expected) test(`${code} → ${status[want]}`, (t) => t.is(grpcStatusOf(code), want));

test('a failed request names every field in its message and the first code and field in its trailers', (t) => {
  const e = toServiceError([
    { code: 'IDENTITY_MALFORMED', path: 'uuid', message: 'not a UUID' },
    { code: 'ARGUMENT_INVALID', path: 'page_size', message: 'too big' },
  ]);
  t.is(e.code, status.INVALID_ARGUMENT);
  t.is(e.details, 'uuid: not a UUID [IDENTITY_MALFORMED]\npage_size: too big [ARGUMENT_INVALID]');
  t.deepEqual(e.metadata?.get('presencelb-error-code'), ['IDENTITY_MALFORMED']);
  t.deepEqual(e.metadata?.get('presencelb-field'), ['uuid']);
});

test('exceptions: a PlbError keeps its code, anything else is INTERNAL', (t) => {
  t.is(errorFromThrown(new PlbError('STORE_FAILED', 'store.getUser: closed')).code, status.UNAVAILABLE);
  t.is(errorFromThrown(new Error('boom')).code, status.INTERNAL);
  t.is(toServiceError([]).code, status.INTERNAL);
});

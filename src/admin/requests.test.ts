import test from 'ava';
import type { UserId } from '../core/user-id.ts';
import { DEFAULT_PAGE_SIZE, encodePageToken, nextFlowsToken, nextUsersToken, parseListFlows, parseListUsers } from './requests.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const paths = (r: { ok: boolean; errors?: readonly { path: string }[] }) => (r.ok ? [] : r.errors!.map((e) => e.path));

test('ListUsers: defaults, bounds and the state filter', (t) => {
  t.deepEqual(parseListUsers({ page_size: 0, page_token: '', state: 'USER_STATE_UNSPECIFIED' }), { ok: true, value: { limit: DEFAULT_PAGE_SIZE, state: null, after: null } });
  t.deepEqual(parseListUsers({ page_size: 1000, state: 'USER_STATE_TEARING_DOWN' }), { ok: true, value: { limit: 1000, state: 'tearing_down', after: null } });
  t.deepEqual(paths(parseListUsers({ page_size: 1001 })), ['page_size']);
  t.deepEqual(paths(parseListUsers({ page_size: -5, state: 'USER_STATE_GONE' })), ['page_size', 'state']);
});

const tokens: Array<[string, unknown, string[]]> = [
  ['not base64url', 'a b', ['page_token']],
  ['not JSON', Buffer.from('{').toString('base64url'), ['page_token']],
  ['wrong shape', encodePageToken({ k: 'users', s: null, c: -1.5, u: U } as never), ['page_token']],
  ['a ListFlows token', encodePageToken({ k: 'flows', u: U, t: 1, i: 'f' }), ['page_token']],
  ['a cursor that is not a UUID', encodePageToken({ k: 'users', s: null, c: 1, u: 'x' }), ['page_token']],
  ['too long', 'A'.repeat(600), ['page_token']],
];
for (const [title, page_token, want] of tokens) test(`ListUsers page_token refused: ${title}`, (t) => t.deepEqual(paths(parseListUsers({ page_token })), want));

test('page tokens round-trip: a full page yields the cursor of its last row; a short page yields none', (t) => {
  const q = { limit: 2, state: 'tracking' as const, after: null };
  t.is(nextUsersToken(q, [{ user: U, createdAt: 5 }]), '');
  const token = nextUsersToken(q, [{ user: U, createdAt: 4 }, { user: U, createdAt: 5 }]);
  t.deepEqual(parseListUsers({ page_size: 2, page_token: token, state: 'USER_STATE_TRACKING' }), { ok: true, value: { limit: 2, state: 'tracking', after: { createdAt: 5, user: U } } });
  t.deepEqual(paths(parseListUsers({ page_size: 2, page_token: token })), ['page_token'], 'the same filter is required');
  const fq = { user: U, page: { limit: 1, before: null } };
  const ft = nextFlowsToken(fq, [{ id: 'f9', startedAt: 9 }]);
  t.deepEqual(parseListFlows({ uuid: U, page_size: 1, page_token: ft }), { ok: true, value: { user: U, page: { limit: 1, before: { startedAt: 9, id: 'f9' } } } });
  t.deepEqual(paths(parseListFlows({ uuid: '1b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f51', page_token: ft })), ['page_token']);
});

test('ListFlows: every bad field is reported', (t) => {
  t.deepEqual(paths(parseListFlows({ uuid: 'x', page_size: 5000, page_token: '!' })), ['uuid', 'page_size', 'page_token']);
  t.deepEqual(paths(parseListFlows({})), ['uuid']);
});

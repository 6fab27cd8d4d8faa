/**
 * Flow ids in time order: a UUID laid out as version 7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74
 * random bits. The flows table's primary key is the id, so consecutive flows land side by side in its index instead
 * of on a random page each: a batch of flows dirties a few of its pages, not one page per flow (each dirtied page is
 * a WAL frame written, and later copied back by a checkpoint).
 */
import { randomFillSync } from 'node:crypto';

const POOL = 4096;
const pool = Buffer.alloc(POOL * 10);
let next = POOL;

/** newFlowId returns a new version 7 UUID (lower-case, hyphenated) for the current time. */
export function newFlowId(now = Date.now()): string {
  if (next === POOL) {
    randomFillSync(pool);
    next = 0;
  }
  const r = pool.subarray(next * 10, next * 10 + 10);
  next++;
  const ts = Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12);
  const rand = r.toString('hex'); // 20 hex digits
  const ver = `7${rand.slice(0, 3)}`;
  const variant = ((parseInt(rand[3]!, 16) & 0x3) | 0x8).toString(16) + rand.slice(4, 7);
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-${ver}-${variant}-${rand.slice(7, 19)}`;
}

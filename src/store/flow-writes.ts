/**
 * Flow writes as values, so they can be queued and applied in batches (write-behind.ts) and checked before they
 * are queued: a bad write is refused at once with a clear error and never poisons a batch.
 */
import type { FlowEndReason, FlowRecord } from '../core/ports.ts';
import { Check } from './validate.ts';

/** FlowWrite is one queued change to the flows table. */
export type FlowWrite =
  | { readonly kind: 'insert'; readonly flow: FlowRecord }
  | { readonly kind: 'upstream'; readonly flowId: string; readonly appServer: string }
  | { readonly kind: 'end'; readonly flowId: string; readonly endedAt: number; readonly reason: FlowEndReason };

/** FlowWriteSink applies a batch of flow writes, in order, in one transaction. */
export interface FlowWriteSink {
  applyFlowWrites(ops: readonly FlowWrite[]): Promise<void>;
}

/** checkFlowWrite throws PlbError(STORE_FAILED) naming each bad field of a write (the store's own checks). */
export function checkFlowWrite(op: FlowWrite): void {
  if (op.kind === 'insert') {
    const c = new Check('insertFlow');
    const flow = op.flow;
    if (c.object('flow', flow)) {
      c.id('flow.id', flow.id);
      c.user('flow.user', flow.user);
      c.optionalId('flow.appServer', flow.appServer).millis('flow.startedAt', flow.startedAt);
      c.millis('flow.endedAt', flow.endedAt, true).endReason('flow.endReason', flow.endReason, true);
      c.require((flow.endedAt === null) === (flow.endReason === null), 'flow.endReason', 'must be set exactly when endedAt is');
    }
    c.done();
  } else if (op.kind === 'upstream') {
    new Check('setFlowAppServer').id('flowId', op.flowId).id('appServer', op.appServer).done();
  } else {
    new Check('endFlow').id('flowId', op.flowId).millis('endedAt', op.endedAt).endReason('reason', op.reason).done();
  }
}

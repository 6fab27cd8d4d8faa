/** The data path's view of the lifecycle: what it reports about flows (core/lifecycle.ts implements it). */
import type { FlowStart } from '../core/lifecycle.ts';
import type { FlowEndReason } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';

/** FlowSink receives the start, upstream and end of every tracked flow. */
export interface FlowSink {
  /** flowStarted must call grant exactly once, when the request may go on to the application server. */
  flowStarted(flow: FlowStart, grant: () => void): void;
  flowUpstream(flowId: string, user: UserId, appServer: string): void;
  flowEnded(flowId: string, user: UserId, endedAt: number, reason: FlowEndReason): void;
  /**
   * flowRecorded reports a flow whole, once it has ended: an access log entry of a flow nobody saw start (every
   * short request in access-log mode and of off-path users). The same as flowStarted with nothing to grant, then
   * flowEnded, in one call: a busy Envoy reports thousands a second. A flow the data path held (span-hold.ts) comes
   * with flow.streams and flow.lastStartedAt set: a span of that many completed streams, or a single one.
   */
  flowRecorded(flow: FlowStart, endedAt: number, reason: FlowEndReason): void;
}

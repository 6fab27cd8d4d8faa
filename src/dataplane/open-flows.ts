/**
 * OpenFlows is the data path's table of flows that have started and not yet ended, keyed by the request id
 * Envoy gives every HTTP stream (x-request-id). ext_proc opens an entry at request headers; the access log
 * (access-log.ts) closes it when Envoy reports the stream complete or reset. An entry is closed only for the user
 * that opened it, so a client that reuses another request's id cannot end someone else's flow. An entry whose
 * access log entry never comes (Envoy dropped it: its access_logs.grpc_access_log.logs_dropped stat) stays until
 * presencelb stops; the flow is then closed in the store (reason shutdown or, after a crash, presencelb_restart).
 */
import type { UserId } from '../core/user-id.ts';

/** OpenFlow is one flow awaiting its end. */
export interface OpenFlow {
  readonly flowId: string;
  readonly user: UserId;
  /** appServer is the server the flow was recorded with at its start (null if Envoy's cluster was not one). */
  readonly appServer: string | null;
  readonly startedAt: number;
}

/** OpenFlows maps request ids to open flows. */
export class OpenFlows {
  private readonly byRequest = new Map<string, OpenFlow>();

  /** open records a flow; a request id already open is refused (returns false). */
  open(requestId: string, flow: OpenFlow): boolean {
    if (this.byRequest.has(requestId)) return false;
    this.byRequest.set(requestId, flow);
    return true;
  }

  /** has says whether a flow is open under requestId (for any user). */
  has(requestId: string): boolean {
    return this.byRequest.has(requestId);
  }

  /** take removes and returns the flow of requestId if it belongs to user (any user when user is null). */
  take(requestId: string, user: UserId | null): OpenFlow | null {
    const f = this.byRequest.get(requestId);
    if (!f || (user !== null && f.user !== user)) return null;
    this.byRequest.delete(requestId);
    return f;
  }

  /** drain removes and returns every open flow (shutdown). */
  drain(): OpenFlow[] {
    const all = [...this.byRequest.values()];
    this.byRequest.clear();
    return all;
  }

  get size(): number {
    return this.byRequest.size;
  }
}

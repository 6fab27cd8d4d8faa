/**
 * OpenFlows is the data path's table of flows that have started and not yet ended, keyed by user and by the request
 * id Envoy gives every HTTP stream (x-request-id). ext_proc (or, in access-log mode, a periodic access log entry)
 * opens an entry; the access log (access-log.ts) closes it when Envoy reports the stream complete or reset. A client
 * may send its own x-request-id, so ids are only unique per user: a client that reuses another user's request id
 * neither ends nor hides that user's flow. An entry ext_proc opened whose final access log entry never comes (Envoy
 * dropped it: its access_logs.grpc_access_log.logs_dropped stat) stays until presencelb stops; the flow is then
 * closed in the store (reason shutdown or, after a crash, presencelb_restart). One that periodic entries opened is
 * ended once they stop coming (AccessLogReceiver.expire).
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

  /** open records a flow; a request id already open for the same user is refused (returns false). */
  open(requestId: string, flow: OpenFlow): boolean {
    const k = key(flow.user, requestId);
    if (this.byRequest.has(k)) return false;
    this.byRequest.set(k, flow);
    return true;
  }

  /** peek returns the user's flow of requestId, if any, and leaves it open. */
  peek(requestId: string, user: UserId): OpenFlow | null {
    if (this.byRequest.size === 0) return null;
    return this.byRequest.get(key(user, requestId)) ?? null;
  }

  /** take removes and returns the user's flow of requestId, if any. */
  take(requestId: string, user: UserId): OpenFlow | null {
    // Flows reported whole (the flow log, the access log alone) find nothing open: no key is made for them.
    if (this.byRequest.size === 0) return null;
    const k = key(user, requestId);
    const f = this.byRequest.get(k);
    if (!f) return null;
    this.byRequest.delete(k);
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

/** key joins a user and a request id (a UUID has no space, so the pair is unambiguous). */
const key = (user: UserId, requestId: string): string => `${user} ${requestId}`;

/**
 * SnapshotInput is the state an xDS snapshot is built from: the configured application servers, the route updates
 * (pins) in force, and the few configuration values that name things Envoy's bootstrap refers to.
 */
import type { AppServer, PinRecord } from '../core/ports.ts';

/** ListenerSpec asks for one listener over LDS: a TCP listener when address is set, else a gRPC API listener. */
export interface ListenerSpec {
  readonly name: string;
  readonly address?: { readonly host: string; readonly port: number };
}

/** SnapshotInput is everything Snapshot.build needs; nothing else influences the snapshot's content or version. */
export interface SnapshotInput {
  /** appServers become one EDS cluster each, named exactly as the server. */
  readonly appServers: readonly AppServer[];
  /** pins become one route each, ahead of the default route; their order here does not matter. */
  readonly pins: readonly PinRecord[];
  /** routeConfigName is the RouteConfiguration the bootstrap's listener asks for over RDS (config xds.routeConfigName). */
  readonly routeConfigName: string;
  /** virtualHostDomains are the domains of the one virtual host (config xds.virtualHostDomains). */
  readonly virtualHostDomains: readonly string[];
  /** identityHeader is the request header carrying the user's UUID (config identity.header). */
  readonly identityHeader: string;
  /**
   * pinHeader, when set (config xds.pins: header), adds one steering route per application server ahead of the
   * default route: a request whose pinHeader equals the server's name goes to that server. ext_proc sets the header
   * for pinned users (src/dataplane/pin-table.ts), so pins themselves are not part of the snapshot.
   */
  readonly pinHeader?: string;
  /**
   * offPath (config extProc.offPath): users whose requests skip ext_proc, and the name of the ext_proc HTTP filter
   * in Envoy's bootstrap (the key of the per-route config that disables it). Absent or no users: plain routes.
   * identityAtStart: the identity header is on the request before any HTTP filter runs (identity.source header, set
   * by a trusted gateway), so the route Envoy picks first is the user's and can leave ext_proc out of the request's
   * filter chain altogether; otherwise (jwt_authn sets the header, and Envoy picks the route again after the chain
   * is made) the filter is made and its route tells it to stand aside. See route.ts.
   */
  readonly offPath?: { readonly users: readonly string[]; readonly extProcFilter: string; readonly identityAtStart?: boolean };
  /** listeners are served over LDS; absent or empty by default (the bootstrap's listener is static). */
  readonly listeners?: readonly ListenerSpec[];
}

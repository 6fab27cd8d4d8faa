/**
 * XdsResourceType is the strategy object every xDS resource type implements (modelled on grpc-js-xds's
 * src/xds-resource-type/): it names the type, builds the type's resources from a SnapshotInput, validates one
 * resource with field paths, lists the resources of other types it refers to, and encodes it. The snapshot and
 * the ADS server know resource types only through this interface.
 */
import type { FieldError, Result } from '../../core/result.ts';
import type { SnapshotInput } from '../snapshot-input.ts';
import { messageType } from '../../protos/envoy.ts';

/** XdsKind is the short name of a resource type, as used in logs, envoys() and field paths. */
export type XdsKind = 'CDS' | 'EDS' | 'LDS' | 'RDS';

/** ResourceReference is a name one resource uses to refer to a resource of another type. */
export interface ResourceReference {
  readonly kind: XdsKind;
  readonly name: string;
  /** path locates the referring field, e.g. `RDS[presencelb-routes].virtual_hosts[0].routes[1].route.cluster`. */
  readonly path: string;
}

/**
 * XdsResourceType describes one xDS resource type. R is the resource as a plain object with the proto's
 * snake_case field names (what protobufjs fromObject accepts).
 */
export interface XdsResourceType<R extends object = object> {
  readonly kind: XdsKind;
  /** typeUrl is the type URL of the resource's Any and of DiscoveryRequest/Response.type_url. */
  readonly typeUrl: string;
  /** wildcard is true when a subscription that names no resource means every resource of the type (CDS, LDS). */
  readonly wildcard: boolean;
  /** build returns the type's resources for input, in a deterministic order; input is assumed validated. */
  build(input: SnapshotInput): R[];
  /** nameOf returns the resource's xDS name (the key of subscriptions). */
  nameOf(resource: R): string;
  /** validate checks one resource and returns it, or every error found with field paths under path. */
  validate(resource: R, path: string): Result<R>;
  /** references lists the names of other types' resources this resource needs (for the consistency check). */
  references(resource: R, path: string): ResourceReference[];
  /** encode serialises the resource message (the value of its Any); it throws if the object does not fit the proto. */
  encode(resource: R): Uint8Array;
}

/** typeUrlOf returns the Any type URL of a fully qualified message name. */
export const typeUrlOf = (fullName: string): string => `type.googleapis.com/${fullName}`;

/** encodeMessage serialises a plain snake_case object as the named message; it throws on a mismatched shape. */
export function encodeMessage(fullName: string, object: object): Uint8Array {
  const t = messageType(fullName);
  return t.encode(t.fromObject(object)).finish();
}

/** resourcePath is the root field path of one resource: `KIND[name]`. */
export const resourcePath = (kind: XdsKind, name: string): string => `${kind}[${name}]`;

/** Collector gathers FieldErrors (all codes CONFIG_INVALID unless said otherwise) while a validator walks a resource. */
export class Collector {
  readonly errors: FieldError[] = [];
  /** check records message at path when cond is false, and returns cond. */
  check(cond: boolean, path: string, message: string): boolean {
    if (!cond) this.errors.push({ code: 'CONFIG_INVALID', path, message });
    return cond;
  }
  /** result returns value when nothing was recorded, else the errors. */
  result<T>(value: T): Result<T> {
    return this.errors.length === 0 ? { ok: true, value } : { ok: false, errors: [...this.errors] };
  }
}

/** isNonEmptyString narrows v to a string with at least one character. */
export const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** isPort is true for an integer 1-65535. */
export const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;

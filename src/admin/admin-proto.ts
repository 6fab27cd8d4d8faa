/**
 * The admin API's protos, loaded once: the service definition with @grpc/proto-loader from proto/ (for the server
 * and its clients), and, for server reflection, the buf-built descriptor set proto/reflection.binpb (the same protos
 * plus grpc.health.v1; see scripts/build-admin-descriptors.sh), because the descriptors proto-loader derives name
 * no imports and grpcurl cannot resolve google.protobuf.Timestamp through them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { loadPackageDefinition, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import descriptor from 'protobufjs/ext/descriptor/index.js';

/** ADMIN_SERVICE is the full name of the admin gRPC service. */
export const ADMIN_SERVICE = 'presencelb.admin.v1.AdminService';
/** HEALTH_SERVICE is the full name of the standard health checking service served beside it. */
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

const PROTO_ROOT = fileURLToPath(new URL('../../proto', import.meta.url));
/** REFLECTION_IMAGE is the descriptor set server reflection serves. */
export const REFLECTION_IMAGE = path.join(PROTO_ROOT, 'reflection.binpb');

/**
 * ADMIN_LOADER_OPTIONS: field names as in admin.proto (snake_case), int64 as decimal strings, enums by name, absent
 * fields filled with their proto3 defaults (so a handler sees '' and 0, never undefined).
 */
export const ADMIN_LOADER_OPTIONS: protoLoader.Options = Object.freeze({ keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });

/** AdminProtos is the loaded definition in the forms the server, reflection and clients need. */
export interface AdminProtos {
  readonly packageDefinition: protoLoader.PackageDefinition;
  readonly service: ServiceDefinition;
  readonly Client: ServiceClientConstructor;
}

let loaded: AdminProtos | undefined;

/** adminProtos loads the protos on the first call and returns the same value afterwards. */
export function adminProtos(): AdminProtos {
  if (loaded) return loaded;
  const packageDefinition = protoLoader.loadSync('presencelb/admin/v1/admin.proto', { ...ADMIN_LOADER_OPTIONS, includeDirs: [PROTO_ROOT] });
  const grpcObject = loadPackageDefinition(packageDefinition);
  let node: unknown = grpcObject;
  for (const part of ADMIN_SERVICE.split('.')) node = (node as Record<string, unknown>)[part];
  const Client = node as ServiceClientConstructor;
  loaded = Object.freeze({ packageDefinition, service: Client.service, Client });
  return loaded;
}

/**
 * reflectionDefinition reads REFLECTION_IMAGE into the form ReflectionService takes: a package definition whose one
 * entry carries every file of the image as an encoded FileDescriptorProto. It throws if the image is missing.
 */
export function reflectionDefinition(): protoLoader.PackageDefinition {
  let image: Buffer;
  try {
    image = fs.readFileSync(REFLECTION_IMAGE);
  } catch (cause) {
    throw new Error(`cannot read ${REFLECTION_IMAGE}; run 'bash scripts/build-admin-descriptors.sh'`, { cause });
  }
  const d = descriptor as unknown as {
    FileDescriptorSet: { decode(b: Uint8Array): { file: unknown[] } };
    FileDescriptorProto: { encode(f: unknown): { finish(): Uint8Array } };
  };
  const fileDescriptorProtos = d.FileDescriptorSet.decode(image).file.map((f) => Buffer.from(d.FileDescriptorProto.encode(f).finish()));
  return { 'presencelb.admin.v1.reflection': { fileDescriptorProtos } } as unknown as protoLoader.PackageDefinition;
}

import test from 'ava';
import { envoyProtos, messageType } from '../protos/envoy.ts';
import { ACCESS_LOG_KEEP, PROCESSING_REQUEST_KEEP, prunedDecoder } from './wire-decoding.ts';

/** protoLoaderDecode is how grpc-js would decode a request of service.method without the pruned decoders. */
function protoLoaderDecode(service: string, method: string, buf: Buffer): any {
  return (envoyProtos().packageDefinition[service] as any)[method].requestDeserialize(buf);
}

const struct = (fields: Record<string, object>) => ({ fields: Object.entries(fields).map(([key, value]) => ({ key, value })) });

test('ProcessingRequest: every field presencelb reads decodes as proto-loader decodes it; the rest is skipped', (t) => {
  const T = messageType('envoy.service.ext_proc.v3.ProcessingRequest');
  const buf = Buffer.from(
    T.encode(
      T.fromObject({
        request_headers: { headers: { headers: [{ key: 'x-user-id', raw_value: Buffer.from('u') }, { key: 'x-request-id', value: 'r' }] }, end_of_stream: true },
        attributes: [{ key: 'envoy.filters.http.ext_proc', value: struct({ 'xds.cluster_name': { string_value: 'app-a' } }) }],
        metadata_context: { filter_metadata: [{ key: 'jwt', value: struct({ payload: { struct_value: struct({ sub: { string_value: 'u' } }) } }) }] },
        observability_mode: true,
        protocol_config: { request_body_mode: 'STREAMED' },
      }),
    ).finish(),
  );
  const full = protoLoaderDecode('envoy.service.ext_proc.v3.ExternalProcessor', 'Process', buf);
  const pruned = prunedDecoder<any>('envoy.service.ext_proc.v3.ProcessingRequest', PROCESSING_REQUEST_KEEP)(buf);
  t.deepEqual(pruned.request_headers.headers, full.request_headers.headers);
  t.deepEqual(pruned.attributes, full.attributes);
  t.deepEqual(pruned.metadata_context, full.metadata_context);
  t.is(pruned.observability_mode, true);
  t.is(pruned.protocol_config, undefined);
  t.is(pruned.request_headers.end_of_stream, undefined);

  const resp = Buffer.from(T.encode(T.fromObject({ response_headers: { headers: { headers: [{ key: ':status', raw_value: Buffer.from('200') }] } } })).finish());
  const r = prunedDecoder<any>('envoy.service.ext_proc.v3.ProcessingRequest', PROCESSING_REQUEST_KEEP)(resp);
  t.is(r.request, 'response_headers');
  t.truthy(r.response_headers);
  t.is(r.request_headers, undefined);
});

test('StreamAccessLogsMessage: the fields access-log.ts reads decode as proto-loader decodes them, times as numbers', (t) => {
  const A = messageType('envoy.service.accesslog.v3.StreamAccessLogsMessage');
  const buf = Buffer.from(
    A.encode(
      A.fromObject({
        identifier: { log_name: 'plb' },
        http_logs: {
          log_entry: [
            {
              common_properties: {
                start_time: { seconds: 1700000000, nanos: 5e6 },
                duration: { seconds: 2, nanos: 3e6 },
                time_to_last_downstream_tx_byte: { nanos: 1e6 },
                response_flags: { downstream_remote_reset: true },
                intermediate_log_entry: true,
                upstream_cluster: 'app-a',
                upstream_remote_address: { socket_address: { address: '127.0.0.1', port_value: 8081 } },
                upstream_local_address: { socket_address: { address: '127.0.0.1', port_value: 40000 } },
                metadata: { filter_metadata: [{ key: 'jwt', value: struct({ payload: { struct_value: struct({ sub: { string_value: 'u' } }) } }) }] },
              },
              request: { request_id: 'r1', request_headers: [{ key: 'x-user-id', value: 'u' }], path: '/' },
              response: { response_code: { value: 200 } },
            },
          ],
        },
      }),
    ).finish(),
  );
  const full = protoLoaderDecode('envoy.service.accesslog.v3.AccessLogService', 'StreamAccessLogs', buf).http_logs.log_entry[0];
  const pruned = prunedDecoder<any>('envoy.service.accesslog.v3.StreamAccessLogsMessage', ACCESS_LOG_KEEP)(buf).http_logs.log_entry[0];
  const cp = pruned.common_properties;
  t.deepEqual(cp.start_time, { seconds: 1700000000, nanos: 5e6 });
  t.deepEqual(cp.duration, { seconds: 2, nanos: 3e6 });
  t.deepEqual(cp.time_to_last_downstream_tx_byte, full.common_properties.time_to_last_downstream_tx_byte);
  t.deepEqual(cp.response_flags, full.common_properties.response_flags);
  t.is(cp.intermediate_log_entry, true);
  t.deepEqual(cp.metadata, full.common_properties.metadata);
  t.deepEqual(pruned.request, { request_id: 'r1', request_headers: full.request.request_headers });
  t.is(cp.upstream_cluster, full.common_properties.upstream_cluster);
  t.like(cp.upstream_remote_address, { socket_address: { address: '127.0.0.1', port_value: 8081 } });
  t.is(full.common_properties.upstream_remote_address.socket_address.port_value, 8081);
  t.is(cp.upstream_local_address, undefined, 'a field presencelb does not read is skipped');
  t.is(pruned.response, undefined);
});

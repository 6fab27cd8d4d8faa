/**
 * Access-log mode (envoy/envoy-access-log.yaml, identity.source jwt, xds.pins routes, extProc.accessLogLagMs 1500):
 * no ext_proc at all; presencelb learns every flow from Envoy's gRPC access log. A short request is recorded whole
 * when it ends, a stream still open after 1 s is opened by Envoy's periodic entry and closed by its final one, an
 * aborted request ends stream_error; a NOTIFY sent while a stream Envoy has not yet reported was open still finds it
 * (the decision waits accessLogLagMs), so the user is reconnected, not purged. No flow is left open after each test.
 * The scenarios are _log-mode.ts's, shared with the flow log (flow-log-mode.test.ts).
 */
import test from 'ava';
import { ACCESS_LOG_BOOTSTRAP } from '../harness/envoy.ts';
import { notifyDuringUnreportedStream, wholeOpenAndAborted } from './_log-mode.ts';
import { startRig, type Rig } from './_rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'jwt', bootstrap: ACCESS_LOG_BOOTSTRAP, extProc: { accessLogLagMs: 1500 }, xds: { pins: 'routes' } });
});
test.after.always(async () => {
  await rig?.stop();
});

test.serial('a request is recorded whole when it ends; a 3 s stream is open from its periodic entry until it ends; an abort ends stream_error', (t) => wholeOpenAndAborted(t, rig));

test.serial('a NOTIFY sent while a stream not yet reported was open: the decision waits for the access log and reconnects the user', (t) => notifyDuringUnreportedStream(t, rig));

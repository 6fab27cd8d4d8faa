// Claim 1's reconnect branch end to end with config xds.pins: routes (per-user routes over xDS). See _reconnect-scenario.ts.
import { reconnectScenario } from './_reconnect-scenario.ts';

reconnectScenario('routes');

// Claim 1's reconnect branch end to end with config xds.pins: header (the default). See _reconnect-scenario.ts.
import { reconnectScenario } from './_reconnect-scenario.ts';

reconnectScenario('header');

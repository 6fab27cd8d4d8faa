/**
 * The `presencelb` command line: `serve`, `migrate`, `config check`, and the operator's commands over the admin API
 * (admin-commands.ts: `users`, `routes`, `envoys`, `stats`, `events`). Config is loaded and validated here, once,
 * and passed down; a bad config exits with status 2 and one line per wrong field.
 */
import { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { registerAdminCommands } from './admin-commands.ts';
import type { Config } from '../config/schema.ts';
import { isPlbError } from '../core/errors.ts';
import { formatErrors } from '../core/result.ts';
import { createLogger } from '../log.ts';
import { applyCpuPolicy } from '../runtime/cpu-policy.ts';

const DEFAULT_CONFIG = 'config/presencelb.yaml';

/** exitInvalid reports a configuration error in file and exits with status 2. */
function exitInvalid(file: string, details: string): never {
  process.stderr.write(`presencelb: invalid configuration in ${file}:\n${details}\n`);
  process.exit(2);
}

function configOrExit(file: string): Config {
  const r = loadConfig(file, process.env);
  if (!r.ok) exitInvalid(file, formatErrors(r.errors));
  return r.value;
}

/**
 * exitIfConfigError: a CONFIG_INVALID error found after the file parsed (a file it names is unusable, a policy it
 * asks for cannot be set) exits like a bad file; anything else is rethrown.
 */
function exitIfConfigError(file: string, e: unknown): never {
  if (!isPlbError(e, 'CONFIG_INVALID')) throw e;
  exitInvalid(file, e.message);
}

const program = new Command('presencelb').description('Presence-aware control plane for Envoy (US 7,647,401 claim 1)');

program
  .command('serve')
  .description('run the ext_proc server, the xDS server, the SIP presence client and the store')
  .option('-c, --config <file>', 'YAML configuration file', DEFAULT_CONFIG)
  .action(async (opts: { config: string }) => {
    const config = configOrExit(opts.config);
    const log = createLogger(config.log.level);
    // Before any thread of presencelb's own is made: those inherit the policy.
    try {
      applyCpuPolicy(config.cpu.policy);
    } catch (e) {
      exitIfConfigError(opts.config, e);
    }
    if (config.cpu.policy === 'idle' && !config.extProc.offPath.enabled && config.extProc.accessLogLagMs === 0)
      log.warn({ code: 'CONFIG_INVALID' }, 'cpu.policy idle with flows from ext_proc (accessLogLagMs 0, no extProc.offPath): in blocking mode every request waits for presencelb, which now runs only when no other task wants the CPU');
    const { startApp } = await import('../app.ts');
    // A file the config names (admin token, TLS material) is unreadable or unusable: a config error, exit 2.
    const app = await startApp(config, log).catch((e: unknown) => exitIfConfigError(opts.config, e));
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      await app.stop();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });

program
  .command('migrate')
  .description('apply database migrations and exit')
  .option('-c, --config <file>', 'YAML configuration file', DEFAULT_CONFIG)
  .action(async (opts: { config: string }) => {
    const config = configOrExit(opts.config);
    const log = createLogger(config.log.level);
    const { migrateLatest } = await import('../store/index.ts');
    await migrateLatest(config.store, log);
    log.info({ store: config.store.client }, 'migrations applied');
  });

program
  .command('config')
  .description('configuration commands')
  .command('check')
  .description('validate a configuration file and print the effective configuration')
  .option('-c, --config <file>', 'YAML configuration file', DEFAULT_CONFIG)
  .action((opts: { config: string }) => {
    const config = configOrExit(opts.config);
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
  });

registerAdminCommands(program);

await program.parseAsync(process.argv);

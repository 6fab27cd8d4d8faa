/**
 * A throw-away PostgreSQL cluster for integration tests: initdb into a fresh directory under os.tmpdir() (trust
 * authentication, local socket and 127.0.0.1 only, fsync off), a server on a free 127.0.0.1 port with its unix
 * socket in that directory, and one database. PostgreSQL refuses to run as root, so when the tests run as root
 * every server command runs as the `postgres` user (runuser), which owns the directory. Nothing is skipped: if the
 * server binaries are missing, startPostgres throws and says how to install them.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chown, mkdtemp, readdir, access, rm, readFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import knexFactory, { type Knex } from 'knex';
import { freePort } from './ports.ts';

const run = promisify(execFile);
const PG_ROOT = '/usr/lib/postgresql';

/** PostgresServer is a running throw-away cluster. */
export interface PostgresServer {
  /** url is postgres://postgres@127.0.0.1:PORT/DB for the database created at start. */
  readonly url: string;
  readonly port: number;
  /** createDatabase creates another empty database on this server and returns its URL. */
  createDatabase(): Promise<string>;
  /** stop shuts the server down (pg_ctl -m fast) and deletes its directory; calling it again does nothing. */
  stop(): Promise<void>;
}

/** findPgBin returns the newest /usr/lib/postgresql/<version>/bin that holds initdb and pg_ctl. */
export async function findPgBin(): Promise<string> {
  let versions: string[] = [];
  try {
    versions = await readdir(PG_ROOT);
  } catch {
    // handled below
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(PG_ROOT, v, 'bin');
    try {
      await access(path.join(bin, 'initdb'));
      await access(path.join(bin, 'pg_ctl'));
      return bin;
    } catch {
      // try the next version
    }
  }
  throw new Error(
    `PostgreSQL server binaries (initdb, pg_ctl) not found under ${PG_ROOT}/*/bin: run the setup script ` +
      `(it installs the Debian "postgresql" package) before the store tests`,
  );
}

let dbCounter = 0;

/** startPostgres creates and starts a cluster and one database; it takes a few seconds. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = await findPgBin();
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'presencelb-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const pgCmd = (cmd: string, args: string[]) => {
    const file = path.join(bin, cmd);
    return asRoot ? run('runuser', ['-u', 'postgres', '--', file, ...args], { cwd: dir }) : run(file, args, { cwd: dir });
  };
  const stopSync = () => {
    try {
      const args = ['-D', data, '-m', 'immediate', '-w', 'stop'];
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), ...args], { stdio: 'ignore', cwd: dir });
      else execFileSync(path.join(bin, 'pg_ctl'), args, { stdio: 'ignore', cwd: dir });
    } catch {
      // the server may not be running
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      await chown(dir, uid, gid);
    }
    await pgCmd('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const opts = `-h 127.0.0.1 -p ${port} -k ${dir} -F -c full_page_writes=off -c synchronous_commit=off`;
      try {
        await pgCmd('pg_ctl', ['-D', data, '-l', logFile, '-o', opts, '-w', '-t', '30', 'start']);
        break;
      } catch (e) {
        if (attempt >= 3) {
          const log = await readFile(logFile, 'utf8').catch(() => '(no log)');
          throw new Error(`pg_ctl start failed: ${String(e)}\n${log}`);
        }
      }
    }
    const base = `postgres://postgres@127.0.0.1:${port}`;
    let admin: Knex | null = knexFactory({ client: 'pg', connection: `${base}/postgres`, pool: { min: 0, max: 2 } });
    const createDatabase = async (): Promise<string> => {
      if (!admin) throw new Error('postgres harness is stopped');
      const name = `plb_${process.pid}_${++dbCounter}`;
      await admin.raw('CREATE DATABASE ??', [name]);
      return `${base}/${name}`;
    };
    const url = await createDatabase();

    const onExit = () => stopSync();
    process.once('exit', onExit);
    let stopped = false;
    return {
      url,
      port,
      createDatabase,
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', onExit);
        await admin?.destroy();
        admin = null;
        await pgCmd('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    stopSync();
    throw e;
  }
}

/**
 * Saturating HTTP load with Debian's wrk: each request carries `x-user-id` picked at random from a users file
 * (one UUID a line) by a small Lua script. runWrk parses wrk's summary.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const LUA = `-- bench: every request names a user picked at random from the file given after --
local users = {}
init = function(args)
  for line in io.lines(args[1]) do users[#users + 1] = line end
  math.randomseed(os.time())
end
request = function()
  return wrk.format("GET", "/", { ["x-user-id"] = users[math.random(#users)] })
end
`;

/** WrkResult is what one wrk run reported. */
export interface WrkResult {
  readonly requests: number;
  readonly rps: number;
  /** latency percentiles in ms (wrk's --latency distribution: 50, 75, 90, 99). */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly socketErrors: number;
  readonly raw: string;
}

function toMs(v: string, unit: string): number {
  const x = Number(v);
  return unit === 'us' ? x / 1000 : unit === 'ms' ? x : unit === 's' ? x * 1000 : unit === 'm' ? x * 60000 : NaN;
}

/** writeWrkScript writes the Lua script into dir and returns its path. */
export function writeWrkScript(dir: string): string {
  const file = path.join(dir, 'users.lua');
  fs.writeFileSync(file, LUA);
  return file;
}

/** startWrk starts `wrk -t threads -c connections -d seconds --latency` against url with the users script. */
export function startWrk(o: { url: string; script: string; usersFile: string; seconds: number; connections: number; threads?: number }): { pid: number; done: Promise<WrkResult> } {
  const args = ['-t', String(o.threads ?? 1), '-c', String(o.connections), '-d', `${o.seconds}s`, '--timeout', '5s', '--latency', '-s', o.script, o.url, '--', o.usersFile];
  let child: ReturnType<typeof execFile> | undefined;
  const done = new Promise<WrkResult>((resolve, reject) => {
    child = execFile('wrk', args, { timeout: (o.seconds + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}\n${stderr}`));
      const pct = (p: string) => {
        const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(stdout);
        return m ? toMs(m[1]!, m[2]!) : NaN;
      };
      const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? 0);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
      resolve({
        requests: num(/(\d+) requests in/),
        rps: num(/Requests\/sec:\s+([\d.]+)/),
        p50: pct('50'),
        p90: pct('90'),
        p99: pct('99'),
        non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
        socketErrors: sock ? sock.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0,
        raw: stdout,
      });
    });
  });
  return { pid: child!.pid!, done };
}

/** runWrk is startWrk when the pid is not needed. */
export function runWrk(o: Parameters<typeof startWrk>[0]): Promise<WrkResult> {
  return startWrk(o).done;
}

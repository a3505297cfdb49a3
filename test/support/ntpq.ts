/** NTPsec's ntpq (its own code, from the unpacked tree) run with its hard-wired port 123 mapped to `port`. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ntpsecDir } from './peers.js';

export function ntpqOnPort(
  port: number,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const shim = [
    'import socket, runpy, sys',
    'orig = socket.getaddrinfo',
    `def gai(h, p, *a, **k): return orig(h, ${port} if p in ('ntp', 123) else p, *a, **k)`,
    'socket.getaddrinfo = gai',
    "sys.argv = ['ntpq'] + sys.argv[1:]",
    `runpy.run_path(${JSON.stringify(join(ntpsecDir() ?? '', 'usr/bin/ntpq'))}, run_name='__main__')`,
  ].join('\n');
  return new Promise((resolve) => {
    execFile(
      '/usr/bin/python3',
      ['-c', shim, ...args],
      { timeout: 30000, env: { ...process.env, PYTHONPATH: '' } },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}

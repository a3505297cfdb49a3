/**
 * `ntpkit daytime HOST[:PORT] [--udp] [--json] [--timeout S]`: an RFC 867 Daytime client. It prints
 * the server's line as received (RFC 867 leaves the format free) and, when it is in a format
 * `parseDaytime` knows, the time it denotes and its offset from the local clock (±1 s).
 */
import { formatUnixNs } from '../time/ntp-time.js';
import { parseDaytime } from '../wire/legacy.js';
import { cliOptions, fetchAnswer } from './time-client.js';

export const DAYTIME_PORT = 13;

const USAGE = `usage: ntpkit daytime HOST[:PORT] [--udp] [--json] [--timeout SECONDS]
  Reads the RFC 867 Daytime service (default port ${DAYTIME_PORT}, TCP unless --udp).`;

export async function run(args: string[]): Promise<number> {
  const o = cliOptions('daytime', args, DAYTIME_PORT, USAGE);
  if (typeof o === 'number') return o;
  let answer: Uint8Array;
  try {
    answer = await fetchAnswer(o, new Uint8Array(0), 512);
  } catch (e) {
    process.stderr.write(`ntpkit daytime: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const text = new TextDecoder('latin1').decode(answer).replace(/[\r\n]+$/, '');
  const localNs = BigInt(Date.now()) * 1_000_000n;
  const parsed = parseDaytime(text, localNs);
  const offset = parsed.ok ? Number(parsed.unixNs - localNs) / 1e9 + 0.5 : null;
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({
        host: o.target.host,
        port: o.target.port,
        transport: o.udp ? 'udp' : 'tcp',
        daytime: text,
        time: parsed.ok ? formatUnixNs(parsed.unixNs, 0) : null,
        format: parsed.ok ? parsed.format : null,
        offset,
      })}\n`,
    );
  } else {
    process.stdout.write(`${text}\n`);
  }
  return text.length > 0 ? 0 : 1;
}

/**
 * `ntpkit query HOST[:PORT]`: one-shot NTP query of a server over UDP (IPv4, IPv6, DNS names).
 * Sends N client requests, validates every reply, reports the lowest-delay one as text or JSON.
 */

import { fmtAddr, queryServer } from '../io/udp-query.js';
import { LEAP_TEXT, parseQueryArgs, reportJson } from './query-args.js';

export { type ParsedArgs, parseQueryArgs, reportJson } from './query-args.js';

const USAGE = `usage: ntpkit query [options] HOST[:PORT]

Queries an NTP server once and prints the offset of its clock from the local one.
HOST is an IPv4 address, an IPv6 address ([::1]:123 with a port) or a DNS name.

options:
  -n, --samples N        send N requests (1-64, default 1) and report the lowest-delay reply
  -t, --timeout SECONDS  wait this long for each reply (default 2)
  -i, --interval SECONDS pause between requests (default 0.2)
  -p, --port PORT        server port (default 123; or write HOST:PORT)
  -4, -6                 use only IPv4 / IPv6 addresses of HOST
      --ntp-version N    NTP version in the requests (1-4, default 4)
      --json             print one JSON object instead of text
      --nts              authenticate with Network Time Security (HOST is the NTS-KE server;
                         see 'ntpkit query --nts --help')
  -h, --help             show this help

exit status: 0 on a valid reply, 1 when no valid reply came (timeout, unreachable, rejected), 2 on a usage error.`;

function fmtSeconds(v: number, signed = false): string {
  const s = `${v.toFixed(9)} s`;
  return signed && v >= 0 ? `+${s}` : s;
}

function reportText(j: ReturnType<typeof reportJson>): string {
  const ts = (t: { iso: string | null; hex: string }) => `${t.iso ?? '(zero)'}  [${t.hex}]`;
  const lines = [
    `server           ${j.server} (${fmtAddr(j.address, j.port)})`,
    `offset           ${fmtSeconds(j.offset, true)}`,
    `delay            ${fmtSeconds(j.delay)}`,
    `stratum          ${j.stratum}`,
    `refid            ${j.refid}`,
    `leap             ${j.leap} (${LEAP_TEXT[j.leap] ?? '?'})`,
    `version          ${j.version}`,
    `precision        ${j.precision} (${j.precisionSeconds.toExponential(2)} s)`,
    `root delay       ${fmtSeconds(j.rootDelay)}`,
    `root dispersion  ${fmtSeconds(j.rootDispersion)}`,
    `root distance    ${fmtSeconds(j.rootDistance)}`,
    `reference time   ${ts(j.referenceTimestamp)}`,
    `origin time      ${ts(j.originTimestamp)}`,
    `receive time     ${ts(j.receiveTimestamp)}`,
    `transmit time    ${ts(j.transmitTimestamp)}`,
    `destination time ${ts(j.destinationTimestamp)}`,
  ];
  if (j.samplesSent > 1) {
    lines.push(
      `samples          ${j.samples.length} valid of ${j.samplesSent} sent; the lowest-delay one is shown`,
    );
  }
  for (const r of j.rejections) lines.push(`rejected reply   ${r.message}`);
  return `${lines.join('\n')}\n`;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--nts')) return (await import('./nts-query.js')).run(args);
  const parsed = parseQueryArgs(args);
  if (parsed === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if ('error' in parsed) {
    process.stderr.write(`ntpkit query: ${parsed.error}\n\n${USAGE}\n`);
    return 2;
  }
  const res = await queryServer(parsed.options);
  const server = parsed.options.host;
  if (!res.ok) {
    if (parsed.json) {
      const rej = res.rejections
        .filter((r) => r.code !== 'WRONG_SOURCE')
        .map((r) => ({ code: r.code, message: r.message }));
      process.stdout.write(
        `${JSON.stringify({ server, address: res.address, port: res.port, error: res.message, rejections: rej })}\n`,
      );
    }
    process.stderr.write(`ntpkit query: ${res.message}\n`);
    return 1;
  }
  const j = reportJson(server, res.address, res.port, res.best, res.samples, res.sent, res.rejections);
  process.stdout.write(parsed.json ? `${JSON.stringify(j, null, 2)}\n` : reportText(j));
  return 0;
}

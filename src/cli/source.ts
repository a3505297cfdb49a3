/** `ntpkit source ADDR`: one source in detail, with its clock filter registers. */
import { COMMON_OPTIONS, runMonitor } from '../observe/cli-common.js';
import { findSource, formatSource } from '../observe/format.js';

const USAGE = `usage: ntpkit source ADDR [--json] [--socket PATH]\n\nOne source in detail. ADDR is an address, ADDR:PORT, a configured name or a source id.\n\n${COMMON_OPTIONS}\n`;

export async function run(args: string[]): Promise<number> {
  if (!args.some((a) => !a.startsWith('-')) && !args.includes('--help') && !args.includes('-h')) {
    process.stderr.write(`ntpkit source: which source? ADDR is required\n${USAGE}`);
    return 2;
  }
  return runMonitor(
    'source',
    USAGE,
    args,
    (snap, a) => {
      const q = a.positional[0] ?? '';
      const s = findSource(snap, q);
      if (s === null) {
        const known = snap.system.sources.map((x) => `${x.address}:${x.port}`).join(', ');
        return {
          text: `ntpkit source: no source '${q}' (sources: ${known === '' ? 'none' : known})\n`,
          code: 1,
        };
      }
      return a.json
        ? { text: `${JSON.stringify(s, null, 2)}\n`, code: 0 }
        : { text: formatSource(s), code: 0 };
    },
    1,
  );
}

/** `ntpkit sources`: the sources of the running daemon (like `ntpq -p` / `chronyc sources -v`). */
import { COMMON_OPTIONS, runMonitor } from '../observe/cli-common.js';
import { formatSources } from '../observe/format.js';

const USAGE = `usage: ntpkit sources [-v] [--json] [--socket PATH]\n\nSources of the running daemon, with their selection state.\n\n  -v, --verbose    print a legend of the columns and why each source was (not) selected\n${COMMON_OPTIONS}\n`;

export async function run(args: string[]): Promise<number> {
  return runMonitor('sources', USAGE, args, (snap, a) =>
    a.json
      ? { text: `${JSON.stringify(snap.system.sources, null, 2)}\n`, code: 0 }
      : { text: formatSources(snap, a.verbose), code: 0 },
  );
}

/** `ntpkit status`: system variables of the running daemon (like `chronyc tracking`). */
import { COMMON_OPTIONS, runMonitor } from '../observe/cli-common.js';
import { formatStatus } from '../observe/format.js';

const USAGE = `usage: ntpkit status [--json] [--socket PATH]\n\nSystem variables of the running daemon.\n\n${COMMON_OPTIONS}\n`;

export async function run(args: string[]): Promise<number> {
  return runMonitor('status', USAGE, args, (snap, a) => {
    if (!a.json) return { text: formatStatus(snap), code: 0 };
    const { sources, ...system } = snap.system;
    const out = {
      version: snap.version,
      uptime: snap.uptime,
      system: { ...system, sourceCount: sources.length },
      server: snap.server,
    };
    return { text: `${JSON.stringify(out, null, 2)}\n`, code: 0 };
  });
}

/** `ntpkit clients`: clients served by the running daemon and server statistics (like `chronyc clients`). */
import { COMMON_OPTIONS, runMonitor } from '../observe/cli-common.js';
import { formatClients } from '../observe/format.js';

const USAGE = `usage: ntpkit clients [--json] [--socket PATH]\n\nServer statistics and the clients in the client table.\n\n${COMMON_OPTIONS}\n`;

export async function run(args: string[]): Promise<number> {
  return runMonitor('clients', USAGE, args, (snap, a) =>
    a.json
      ? { text: `${JSON.stringify({ server: snap.server, clients: snap.clients }, null, 2)}\n`, code: 0 }
      : { text: formatClients(snap), code: 0 },
  );
}

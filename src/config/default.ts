/**
 * The built-in configuration used when `ntpkit daemon` runs without `--config`: four servers of the
 * public NTP pool, serving on port 123 when privileged and on DEFAULT_UNPRIVILEGED_PORT (10123)
 * otherwise, dashboard on 127.0.0.1:9976. It is TOML, validated by the same parser as any file
 * (examples/default.toml is the same text).
 */
import { parseConfig } from './parse.js';
import type { DaemonConfig } from './types.js';

export const DEFAULT_CONFIG_TOML = `# ntpkit built-in default configuration
[[pool]]
address = "pool.ntp.org"
iburst = true
max-sources = 4

[serve]
# port: 123 when run as root, 10123 otherwise (leave unset for that behaviour)
listen = ["0.0.0.0", "::"]

[observe]
dashboard = "127.0.0.1:9976"
`;

export function defaultDaemonConfig(): DaemonConfig {
  return parseConfig(DEFAULT_CONFIG_TOML, '<built-in default>');
}

/**
 * The packaged manuals and completions, generated from the sources the program itself uses: ntpkit(8)
 * and the bash/zsh completions from the command table (src/cli/commands.ts) and the runtime
 * commands' specs, ntpkit.toml(5) from docs/CONFIG.md (whose key tables come from the config schema). `npm run gen:packaging` writes them;
 * test/packaging checks that the committed files equal what this produces.
 */
import { COMMANDS } from './commands.js';
import { EXIT, SPECS } from './runtime.js';

const DATE = '2026-12';
const VERSION = '0.1.0';

/** Text safe for roff: backslashes, leading dots and quotes escaped, markdown code marks dropped. */
function roff(text: string): string {
  const t = text
    .replace(/\\/g, '\\e')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/\*\*([^*]+)\*\*/g, '\\fB$1\\fR')
    .replace(/\[([^\]]+)\]\([^)]+\)/g, '$1')
    .replace(/-/g, '\\-');
  return t.replace(/^([.'])/gm, '\\&$1');
}

const EXIT_TEXT: Record<keyof typeof EXIT, string> = {
  ok: 'done',
  refused:
    'the daemon refused or could not carry out the command (no such source, bad option, failed reload); for status and source: nothing to show',
  usage: 'bad usage',
  unreachable: 'the daemon is not running or did not answer in time',
  permission:
    'permission denied: commands that change the daemon need its user or root; the [observe] control-group may only read',
};

/** ntpkit(8). */
export function manPage8(): string {
  const out: string[] = [
    `.TH NTPKIT 8 "${DATE}" "ntpkit ${VERSION}" "System Administration"`,
    '.SH NAME',
    'ntpkit \\- NTPv4 client, server and peer, with monitoring and runtime control',
    '.SH SYNOPSIS',
    '.B ntpkit',
    '.I COMMAND',
    '[\\fIoptions\\fR]',
    '.SH DESCRIPTION',
    roff(
      'ntpkit is a complete NTPv4 implementation (RFC 5905) in TypeScript: a daemon that follows NTP servers, serves time, and runs symmetric and broadcast associations, with NTS, reference clocks, a control socket, Prometheus metrics and a web dashboard. The host clock is never touched unless [clock] system-clock is set. Run `ntpkit COMMAND --help` for the options of a command.',
    ),
    '.SH COMMANDS',
  ];
  for (const [name, c] of Object.entries(COMMANDS)) {
    const spec = SPECS[name];
    out.push('.TP', `.B ${roff(name)}${spec !== undefined && spec.args !== '' ? ` ${roff(spec.args)}` : ''}`);
    out.push(roff(spec?.summary ?? c.summary));
  }
  out.push(
    '.SH RUNTIME COMMANDS',
    roff(
      'burst, makestep, add, delete, online, offline, reload, rotate-keys, reset-clients and log-level talk to the running daemon over its control socket, like status, sources, source and clients. All take --json, --socket PATH (default $NTPKIT_SOCKET, /run/ntpkit/ntpkit.sock as root) and --timeout SEC. SOURCE is a source id, address, ADDRESS:PORT or host name; a pool name selects all its members. Sources added or deleted at run time last until the next reload or restart: a reload brings the sources back in line with the configuration file.',
    ),
    '.SH EXIT STATUS',
  );
  for (const [k, code] of Object.entries(EXIT))
    out.push('.TP', `.B ${code}`, roff(EXIT_TEXT[k as keyof typeof EXIT]));
  out.push(
    '.SH SIGNALS',
    '.TP',
    '.B SIGHUP',
    'reload the configuration file (as ntpkit reload)',
    '.TP',
    '.B SIGTERM, SIGINT',
    'stop; the state file is written',
    '.SH FILES',
    '.TP',
    '.I /etc/ntpkit/ntpkit.toml',
    'configuration, see ntpkit.toml(5)',
    '.TP',
    '.I /var/lib/ntpkit/',
    "state file (frequency) and NTS key file, under the unit's StateDirectory",
    '.TP',
    '.I /run/ntpkit/ntpkit.sock',
    'control socket of a daemon run as root or by the systemd unit',
    '.SH SEE ALSO',
    'ntpkit.toml(5), chronyc(1), ntpq(1)',
    '',
  );
  return out.join('\n');
}

/** ntpkit.toml(5) from docs/CONFIG.md: headings, paragraphs, key tables (one .TP per key) and code. */
export function manPage5(configMd: string): string {
  const out: string[] = [
    `.TH NTPKIT.TOML 5 "${DATE}" "ntpkit ${VERSION}" "File Formats"`,
    '.SH NAME',
    'ntpkit.toml \\- configuration file of ntpkit(8)',
    '.SH DESCRIPTION',
  ];
  let header: string[] | null = null;
  let inCode = false;
  let para: string[] = [];
  const flush = (): void => {
    if (para.length > 0) out.push('.PP', roff(para.join(' ')));
    para = [];
  };
  for (const line of configMd.split('\n')) {
    if (line.startsWith('```')) {
      flush();
      out.push(inCode ? '.fi\n.RE' : '.RS\n.nf');
      inCode = !inCode;
      continue;
    }
    if (inCode) {
      out.push(roff(line));
      continue;
    }
    if (line.startsWith('|')) {
      flush();
      const cells = line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim().replace(/\\\|/g, '|'));
      if (cells.every((c) => /^-+$/.test(c))) continue;
      if (header === null) {
        header = cells;
        continue;
      }
      const [first, ...rest] = cells;
      const described = rest.map((c, i) =>
        header?.[i + 1] === 'meaning' || c === '' ? c : `${header?.[i + 1]}: ${c}`,
      );
      out.push('.TP', `.B ${roff(first ?? '')}`, roff(described.filter((c) => c !== '').join('; ')));
      continue;
    }
    header = null;
    if (line.startsWith('# ') || line.startsWith('<!--')) continue;
    if (line.startsWith('## ')) {
      flush();
      out.push(`.SH ${roff(line.slice(3)).toUpperCase()}`);
    } else if (line.startsWith('### ')) {
      flush();
      out.push(`.SS ${roff(line.slice(4))}`);
    } else if (line.trim() === '') flush();
    else para.push(line.trim());
  }
  flush();
  out.push('.SH SEE ALSO', 'ntpkit(8)', '');
  return out.join('\n');
}

const ADD_OPTIONS =
  'iburst burst prefer noselect xleave nts minpoll maxpoll key version max-delay max-sources nts-port';
const COMMON = '--json --socket --timeout --help';

/** bash completion: subcommands, then each command's words and options. */
export function bashCompletion(): string {
  const names = Object.keys(COMMANDS).join(' ');
  return `# bash completion for ntpkit (generated by src/cli/manual.ts)
_ntpkit() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd=\${COMP_WORDS[1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${names} --help --version" -- "$cur"))
    return
  fi
  case "$cmd" in
    add)
      if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=($(compgen -W "server peer pool" -- "$cur"));
      else COMPREPLY=($(compgen -W "${ADD_OPTIONS} ${COMMON}" -- "$cur")); fi ;;
    log-level) COMPREPLY=($(compgen -W "debug info warn error ${COMMON}" -- "$cur")) ;;
    daemon) COMPREPLY=($(compgen -W "--config --port --no-drop-privileges --help" -- "$cur")) ;;
    config) COMPREPLY=($(compgen -W "check default defaults keys" -f -- "$cur")) ;;
    *) COMPREPLY=($(compgen -W "${COMMON} --verbose" -- "$cur")) ;;
  esac
}
complete -F _ntpkit ntpkit
`;
}

/** zsh completion (#compdef). */
export function zshCompletion(): string {
  const cmds = Object.entries(COMMANDS)
    .map(([n, c]) => `    '${n}:${(SPECS[n]?.summary ?? c.summary).replace(/'/g, '')}'`)
    .join('\n');
  return `#compdef ntpkit
# zsh completion for ntpkit (generated by src/cli/manual.ts)
_ntpkit() {
  local -a commands
  commands=(
${cmds}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case $words[2] in
    add)
      if (( CURRENT == 3 )); then _values 'mode' server peer pool;
      else _values 'option' ${ADD_OPTIONS} ${COMMON}; fi ;;
    log-level) _values 'level' debug info warn error ;;
    daemon) _arguments '--config[configuration file]:file:_files' '--port[port]:port' '--no-drop-privileges[stay root]' ;;
    config) _values 'subcommand' check default defaults keys; _files ;;
    *) _values 'option' ${COMMON} --verbose ;;
  esac
}
_ntpkit "$@"
`;
}

/** Every generated file, by path in the repository. */
export function packagingFiles(configMd: string): Record<string, string> {
  return {
    'man/ntpkit.8': manPage8(),
    'man/ntpkit.toml.5': manPage5(configMd),
    'packaging/completion/ntpkit.bash': bashCompletion(),
    'packaging/completion/_ntpkit': zshCompletion(),
  };
}

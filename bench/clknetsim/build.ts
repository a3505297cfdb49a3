/**
 * Finds and builds the chrony and clknetsim source trees the accuracy benchmark runs chrony with.
 * Neither is part of this repository: they are given as directories (`--chrony-src`,
 * `--clknetsim-src` or the CHRONY_SRC and CLKNETSIM_SRC environment variables) and built in a cache
 * directory outside the repository (`--build-dir`, NTPKIT_BENCH_CACHE, or ~/.cache/ntpkit/bench),
 * one build per source revision. A git tree is built from its committed HEAD (`git archive`),
 * anything else from a copy.
 *
 * chronyd is configured as in /work/shared/TESTRIG.md (no NTS, no crypto libraries, no privilege
 * dropping: clknetsim fakes the clock and network system calls and needs none of them).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

export interface TreeOptions {
  chronySrc?: string | undefined;
  clknetsimSrc?: string | undefined;
  buildDir?: string | undefined;
}

export interface Trees {
  chronySrc: string | null;
  clknetsimSrc: string | null;
  /** What is missing, in words; empty when both trees are there. */
  missing: string[];
}

export interface Built {
  /** The directory holding the three executables (remove it when done). */
  binDir: string;
  /** Executables, in a directory every user can read (the simulations run as nobody). */
  chronyd: string;
  clknetsim: string;
  preload: string;
  /** `chronyd -v`'s version, e.g. "4.8"; clknetsim's git revision. */
  chronyVersion: string;
  clknetsimVersion: string;
}

const HOW =
  'both are public git repositories (mlichvar/chrony, tag 4.8, and mlichvar/clknetsim); see docs/BENCHMARKS.md, "Accuracy"';

/** Resolves the trees from the options and the environment and says what is missing. */
export function findTrees(o: TreeOptions, env: NodeJS.ProcessEnv = process.env): Trees {
  const missing: string[] = [];
  const pick = (
    given: string | undefined,
    envName: string,
    flag: string,
    file: string,
    what: string,
  ): string | null => {
    const dir = given ?? env[envName];
    if (dir === undefined || dir === '') {
      missing.push(`${what}: no source tree given (${flag} DIR or ${envName}=DIR)`);
      return null;
    }
    if (!existsSync(join(dir, file))) {
      missing.push(`${what}: ${dir} is not a ${what} source tree (no ${file})`);
      return null;
    }
    return resolve(dir);
  };
  const chronySrc = pick(o.chronySrc, 'CHRONY_SRC', '--chrony-src', 'ntp_core.c', 'chrony');
  const clknetsimSrc = pick(
    o.clknetsimSrc,
    'CLKNETSIM_SRC',
    '--clknetsim-src',
    'clknetsim.bash',
    'clknetsim',
  );
  if (missing.length > 0) missing.push(HOW);
  return { chronySrc, clknetsimSrc, missing };
}

function git(dir: string, args: string[]): string | null {
  try {
    return execFileSync('git', ['-C', dir, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

/** Revision of a tree: git HEAD (with a -dirty mark) or, for a plain copy, its path and mtime. */
function revision(dir: string): { key: string; describe: string; isGit: boolean } {
  const head = git(dir, ['rev-parse', 'HEAD']);
  if (head !== null && git(dir, ['rev-parse', '--show-toplevel']) === realpathSync(dir)) {
    const describe = git(dir, ['describe', '--tags', '--always']) ?? head.slice(0, 12);
    return { key: head.slice(0, 16), describe, isGit: true };
  }
  const h = createHash('sha256')
    .update(`${realpathSync(dir)}:${statSync(dir).mtimeMs}`)
    .digest('hex');
  return { key: `copy-${h.slice(0, 12)}`, describe: 'unknown', isGit: false };
}

function run(cmd: string, args: string[], cwd: string, log: string): void {
  try {
    execFileSync('bash', ['-c', `${[cmd, ...args].map(shellQuote).join(' ')} >>${shellQuote(log)} 2>&1`], {
      cwd,
      stdio: 'ignore',
    });
  } catch {
    throw new Error(`'${cmd} ${args.join(' ')}' failed in ${cwd}; see ${log}`);
  }
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Copies a tree to `dest`: its committed HEAD for a git tree, otherwise every file. */
function copyTree(src: string, dest: string, isGit: boolean, log: string): void {
  mkdirSync(dest, { recursive: true });
  if (isGit)
    run(
      'bash',
      ['-c', `git -C ${shellQuote(src)} archive --format=tar HEAD | tar -x -C ${shellQuote(dest)}`],
      dest,
      log,
    );
  else run('cp', ['-a', `${src}/.`, dest], dest, log);
}

function cacheRoot(o: TreeOptions, repoRoot: string): string {
  const dir = resolve(
    o.buildDir ??
      process.env.NTPKIT_BENCH_CACHE ??
      join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ntpkit/bench'),
  );
  const rel = relative(resolve(repoRoot), dir);
  if (rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'))) {
    throw new Error(`--build-dir ${dir} is inside the repository; third-party trees are built outside it`);
  }
  return dir;
}

/**
 * Builds (or reuses) chronyd and clknetsim and copies the three executables into a fresh directory
 * readable by every user. `say` reports progress.
 */
export function buildTrees(
  trees: { chronySrc: string; clknetsimSrc: string },
  o: TreeOptions,
  repoRoot: string,
  say: (s: string) => void,
): Built {
  const root = cacheRoot(o, repoRoot);
  mkdirSync(root, { recursive: true });
  const cr = revision(trees.chronySrc);
  const kr = revision(trees.clknetsimSrc);
  const cdir = join(root, `chrony-${cr.key}`);
  const kdir = join(root, `clknetsim-${kr.key}`);
  if (!existsSync(join(cdir, 'chronyd'))) {
    const log = join(root, `chrony-${cr.key}.log`);
    say(`building chronyd ${cr.describe} in ${cdir} (log ${log})`);
    copyTree(trees.chronySrc, cdir, cr.isGit, log);
    // A tree from git has no version.txt; without one chronyd calls itself DEVELOPMENT.
    if (cr.isGit && !existsSync(join(cdir, 'version.txt')))
      writeFileSync(join(cdir, 'version.txt'), `${cr.describe}\n`);
    if (!cr.isGit) run('bash', ['-c', 'make distclean || true'], cdir, log);
    run(
      './configure',
      [
        '--disable-nts',
        '--without-nettle',
        '--without-gnutls',
        '--without-nss',
        '--without-tomcrypt',
        '--disable-readline',
        '--without-seccomp',
        '--without-libcap',
        '--disable-privdrop',
      ],
      cdir,
      log,
    );
    run('make', ['-j2', 'chronyd'], cdir, log);
  }
  if (!existsSync(join(kdir, 'clknetsim')) || !existsSync(join(kdir, 'clknetsim.so'))) {
    const log = join(root, `clknetsim-${kr.key}.log`);
    say(`building clknetsim ${kr.describe} in ${kdir} (log ${log})`);
    copyTree(trees.clknetsimSrc, kdir, kr.isGit, log);
    if (!kr.isGit) run('bash', ['-c', 'make clean || true'], kdir, log);
    run('make', ['-j2'], kdir, log);
  }
  const bin = mkdtempSync(join(tmpdir(), 'ntpkit-bench-bin-'));
  chmodSync(bin, 0o755);
  const copy = (from: string, name: string): string => {
    const to = join(bin, name);
    copyFileSync(from, to);
    chmodSync(to, 0o755);
    return to;
  };
  const chronyd = copy(join(cdir, 'chronyd'), 'chronyd');
  const clknetsim = copy(join(kdir, 'clknetsim'), 'clknetsim');
  const preload = copy(join(kdir, 'clknetsim.so'), 'clknetsim.so');
  const v = execFileSync(chronyd, ['-v'], { encoding: 'utf8' });
  const m = /version (\S+)/.exec(v);
  return {
    binDir: bin,
    chronyd,
    clknetsim,
    preload,
    chronyVersion: m?.[1] ?? cr.describe,
    clknetsimVersion: kr.describe,
  };
}

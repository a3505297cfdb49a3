import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ConfigError,
  checkConfig,
  defaultDaemonConfig,
  parseConfig,
  parseKeyFile,
} from '../../src/config/index.js';
import { KeyLines } from '../../src/config/lines.js';
import { SERVE } from '../../src/config/schema.js';
import { keyNames } from '../../src/config/schema-kit.js';

test('minimal config gets documented defaults', () => {
  const c = parseConfig('[[server]]\naddress = "127.0.0.1"\n', 'x.toml');
  assert.equal(c.file, 'x.toml');
  assert.equal(c.servers.length, 1);
  const s = c.servers[0]!;
  assert.deepEqual(
    {
      host: s.host,
      port: s.port,
      minpoll: s.minpoll,
      maxpoll: s.maxpoll,
      iburst: s.iburst,
      xleave: s.xleave,
      key: s.key,
    },
    { host: '127.0.0.1', port: 123, minpoll: 6, maxpoll: 10, iburst: false, xleave: false, key: null },
  );
  assert.equal(c.server.enabled, true);
  assert.equal(c.server.port, null);
  assert.equal(c.rateLimit.enabled, false);
  assert.equal(c.system.localStratum, null);
  assert.equal(c.observe.controlSocket, 'default');
  assert.equal(c.observe.dashboard, null);
  assert.equal(c.clock.systemClock, false);
  assert.equal(c.clock.discipline, 'feedforward');
});

test('every source option is read', () => {
  const c = parseConfig(
    `[[peer]]
address = "10.0.0.2"
port = 11234
iburst = true
burst = true
minpoll = -2
maxpoll = 3
prefer = true
noselect = true
xleave = true
key = 5
version = 3
max-delay = 0.25

[[key]]
id = 5
type = "MD5"
value = "secret"
`,
  );
  const p = c.peers[0]!;
  assert.deepEqual(
    [
      p.host,
      p.port,
      p.iburst,
      p.burst,
      p.minpoll,
      p.maxpoll,
      p.prefer,
      p.noselect,
      p.xleave,
      p.key,
      p.version,
      p.maxDelay,
    ],
    ['10.0.0.2', 11234, true, true, -2, 3, true, true, true, 5, 3, 0.25],
  );
  assert.equal(c.system.keys[0]?.type, 'MD5');
  assert.deepEqual(Array.from(c.system.keys[0]!.key), Array.from(new TextEncoder().encode('secret')));
});

test('local stratum, rate limit, legacy, observe, pools, broadcast', () => {
  const c = parseConfig(`
[local]
stratum = 7
[rate-limit]
interval = 1
burst = 4
kod = false
[legacy]
time-port = 11237
daytime-port = 11213
udp = false
[observe]
control-socket = "/tmp/x.sock"
metrics = "127.0.0.1:9975"
dashboard = "[::1]:9976"
ntpq-remote = true
[[pool]]
address = "pool.example"
max-sources = 2
re-resolve = 60
[[broadcast]]
address = "10.123.5.255"
poll = 4
`);
  assert.equal(c.system.localStratum, 7);
  assert.deepEqual(c.rateLimit, { enabled: true, interval: 1, burst: 4, kod: false, leak: 2 });
  assert.deepEqual(c.legacy.time, { port: 11237, tcp: true, udp: false });
  assert.deepEqual(c.legacy.daytime, { port: 11213, tcp: true, udp: false });
  assert.equal(c.observe.controlSocket, '/tmp/x.sock');
  assert.equal(c.observe.dashboard, '[::1]:9976');
  assert.equal(c.observe.ntpqRemote, true);
  assert.equal(c.pools[0]?.maxSources, 2);
  assert.equal(c.pools[0]?.reresolveInterval, 60);
  assert.deepEqual(c.system.broadcast, [{ address: '10.123.5.255', port: 123, poll: 4, xleave: false }]);
});

test('unknown keys are rejected with file, line and key', () => {
  const text =
    '# c\n\n[[server]]\naddress = "a"\nibrust = true\n\n[serve]\nlisten = ["127.0.0.1"]\nprot = 5\n';
  const { config, issues } = checkConfig(text, 'my.toml');
  assert.equal(config, null);
  assert.equal(issues.length, 2);
  assert.deepEqual(
    issues.map((i) => [i.code, i.file, i.line, i.key]),
    [
      ['CONFIG_UNKNOWN_KEY', 'my.toml', 5, 'server[0].ibrust'],
      ['CONFIG_UNKNOWN_KEY', 'my.toml', 9, 'serve.prot'],
    ],
  );
  assert.match(issues[0]!.message, /did you mean 'iburst'/);
  assert.throws(
    () => parseConfig(text, 'my.toml'),
    (e: unknown) => e instanceof ConfigError && /my\.toml:5: server\[0\]\.ibrust/.test(e.message),
  );
});

test('unknown top-level table and keys in the second array element get their own line', () => {
  const text = '[[server]]\naddress = "a"\n[[server]]\naddress = "b"\nfoo = 1\n[bogus]\nx = 1\n';
  const { issues } = checkConfig(text, 'f');
  const byKey = new Map(issues.map((i) => [i.key, i.line]));
  assert.equal(byKey.get('server[1].foo'), 5);
  assert.equal(byKey.get('bogus'), 6);
});

test('bad values are reported with their line', () => {
  const text = [
    '[[server]]', // 1
    'address = "a"', // 2
    'minpoll = 8', // 3
    'maxpoll = 4', // 4
    '[access]', // 5
    'allow = ["10.0.0.0/33", "::1/128"]', // 6
    '[observe]', // 7
    'metrics = "nope"', // 8
    '[clock]', // 9
    'discipline = "pll"', // 10
    '[[server]]', // 11
    'port = 123', // 12
  ].join('\n');
  const { issues } = checkConfig(text, 'f');
  const lines = issues.map((i) => `${i.line} ${i.key}`).sort();
  assert.deepEqual(lines, [
    '10 clock.discipline',
    '11 server[1]',
    '4 server[0].maxpoll',
    '6 access.allow',
    '8 observe.metrics',
  ]);
});

test('TOML syntax errors carry a line number', () => {
  const { issues } = checkConfig('[[server]]\naddress = "a"\nport = = 3\n', 'syn.toml');
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.code, 'CONFIG_SYNTAX');
  assert.equal(issues[0]?.line, 3);
});

test('a key reference must name a defined key (without key file)', () => {
  const { issues } = checkConfig('[[server]]\naddress = "a"\nkey = 3\n', 'f');
  assert.equal(issues[0]?.key, 'server[0].key');
  assert.equal(issues[0]?.line, 3);
});

test('key file parsing: ntpd and chrony formats', () => {
  const { keys, issues } = parseKeyFile(
    '# c\n1 MD5 short\n2 SHA1 HEX:00112233445566778899aabbccddeeff00112233\n3 SHA256 00112233445566778899aabbccddeeff00112233\n4 BOGUS x\n5 MD5\n',
  );
  assert.deepEqual(
    keys.map((k) => [k.id, k.type, k.key.length]),
    [
      [1, 'MD5', 5],
      [2, 'SHA1', 20],
      [3, 'SHA256', 20],
    ],
  );
  assert.deepEqual(
    issues.map((i) => i.line),
    [5, 6],
  );
});

test('the built-in default is valid: a public pool and the default dashboard', () => {
  const c = defaultDaemonConfig();
  assert.equal(c.pools[0]?.host, 'pool.ntp.org');
  assert.equal(c.server.port, null);
  assert.equal(c.observe.dashboard, '127.0.0.1:9976');
});

test('KeyLines finds keys in tables, arrays of tables, after multi-line arrays', () => {
  const kl = new KeyLines('a = 1\n[t]\nlist = [\n  "x = 1",\n  "y",\n]\nb = 2\n[[s]]\nc = 3\n[[s]]\nc = 4\n');
  assert.equal(kl.lineOf('a'), 1);
  assert.equal(kl.lineOf('t.list'), 3);
  assert.equal(kl.lineOf('t.b'), 7);
  assert.equal(kl.lineOf('s[0].c'), 9);
  assert.equal(kl.lineOf('s[1].c'), 11);
  assert.equal(kl.lineOf('s[1].nothere'), 10);
});

test('property: any integer minpoll within limits round-trips, outside is rejected', () => {
  fc.assert(
    fc.property(fc.integer({ min: -20, max: 40 }), (p) => {
      const { config, issues } = checkConfig(
        `[[server]]\naddress = "a"\nminpoll = ${p}\nmaxpoll = 24\n`,
        'f',
      );
      if (p >= -7 && p <= 24) return config?.servers[0]?.minpoll === p && issues.length === 0;
      return config === null && issues[0]?.line === 3;
    }),
  );
});

test('property: a misspelt key anywhere in [serve] is rejected on its line', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z][a-z-]{0,12}$/), fc.integer({ min: 0, max: 5 }), (key, blank) => {
      fc.pre(!keyNames(SERVE).includes(key));
      const text = `${'\n'.repeat(blank)}[serve]\n${key} = 1\n`;
      const { issues } = checkConfig(text, 'f');
      return issues.length === 1 && issues[0]?.line === blank + 2 && issues[0]?.code === 'CONFIG_UNKNOWN_KEY';
    }),
  );
});

test('[[refclock]] tables are read by the schema, every problem with its line and key', () => {
  const c = parseConfig(
    '[[refclock]]\ndriver = "SHM"\nunit = 0\nrefid = "GPS"\ndelay = 0.2\nnoselect = true\n',
  );
  assert.equal(c.refclocks.length, 1);
  assert.equal(c.refclocks[0]?.driver, 'SHM');
  assert.equal(c.refclocks[0]?.refid, 'GPS');
  const { issues } = checkConfig(
    '[[refclock]]\ndriver = "SHM"\n\nbogus = 1\n[[refclock]]\ndriver = "XYZ"\n[[refclock]]\npoll = 3\n',
    'r.toml',
  );
  assert.deepEqual(
    issues.map((i) => [i.code, i.line, i.key]),
    [
      ['CONFIG_UNKNOWN_KEY', 4, 'refclock[0].bogus'],
      ['CONFIG_BAD_VALUE', 6, 'refclock[1].driver'],
      ['CONFIG_BAD_VALUE', 7, 'refclock[2]'],
    ],
  );
  assert.equal(issues[1]?.file, 'r.toml');
  assert.equal(issues[1]?.message, 'unknown refclock driver "XYZ" (SHM, PPS, NMEA)');
  assert.match(issues[2]?.message ?? '', /driver is required/);
});

test('[[refclock]]: driver in any case, the keys and defaults of each driver', () => {
  const t = parseConfig(
    '[[refclock]]\ndriver = "shm"\nunit = 2\npoll = 2\nmax-dispersion = 0.1\nprefer = true\n',
  );
  assert.equal(t.refclocks[0]?.driver, 'SHM');
  assert.equal(t.refclocks[0]?.parameter, '2');
  assert.equal(t.refclocks[0]?.refid, 'SHM2');
  assert.equal(t.refclocks[0]?.maxDispersion, 0.1);
  assert.equal(t.refclocks[0]?.prefer, true);
  assert.equal(t.refclocks[0]?.pulse, false);
  const p = parseConfig('[[refclock]]\ndriver = "PPS"\ndevice = "/dev/pps1"\nlock = "GPS"\n').refclocks[0];
  assert.deepEqual([p?.parameter, p?.refid, p?.pulse, p?.lock], ['/dev/pps1', 'PPS', true, 'GPS']);
  const n = parseConfig('[[refclock]]\ndriver = "NMEA"\nparameter = "/dev/ttyS1"\n').refclocks[0];
  assert.deepEqual([n?.parameter, n?.refid, n?.pulse], ['/dev/ttyS1', 'GPS', false]);
  // chrony's spellings: `parameter` for the unit, `maxdispersion`.
  const s = parseConfig('[[refclock]]\ndriver = "SHM"\nparameter = "1"\nmaxdispersion = 0.5\n').refclocks[0];
  assert.deepEqual([s?.parameter, s?.refid, s?.maxDispersion], ['1', 'SHM1', 0.5]);

  const { issues } = checkConfig(
    [
      '[[refclock]]',
      'driver = "PPS"',
      'colour = "red"',
      'poll = "3"',
      'unit = 1',
      '[[refclock]]',
      'driver = "SHM"',
      'unit = 300',
      'refid = "TOOLONG"',
      'precision = 0',
      'device = "/dev/pps0"',
      '[[refclock]]',
      'driver = "PPS"',
      'device = "/dev/pps0"',
      'lock = "PPS"',
      'filter = 0',
      'unit = { a = 1 }',
    ].join('\n'),
    'r.toml',
  );
  const got = issues.map((i) => `${i.line} ${i.key}: ${i.message}`);
  const want = [
    /^3 refclock\[0\]\.colour: unknown key 'colour'; allowed: driver, poll, .*, device, parameter, refid, pulse$/,
    /^4 refclock\[0\]\.poll: expected a number, got "3"$/,
    /^5 refclock\[0\]\.unit: unknown key 'unit'/,
    /^1 refclock\[0\]: PPS needs a device \(device = "\/dev\/pps0"\)$/,
    /^8 refclock\[1\]\.unit: SHM unit 300 is not an integer 0…255$/,
    /^9 refclock\[1\]\.refid: "TOOLONG" is not 1 to 4 printable ASCII characters$/,
    /^10 refclock\[1\]\.precision: 0 must be above 0$/,
    /^11 refclock\[1\]\.device: unknown key 'device'/,
    /^15 refclock\[2\]\.lock: a refclock cannot lock to itself/,
    /^16 refclock\[2\]\.filter: 0 is out of range 1\.\.1024$/,
    /^17 refclock\[2\]\.unit: unknown key 'unit'/,
  ];
  for (const w of want)
    assert.ok(
      got.some((g) => w.test(g)),
      `${w} in\n${got.join('\n')}`,
    );
  assert.equal(got.length, want.length, got.join('\n'));
});

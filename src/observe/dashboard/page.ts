/**
 * The dashboard page (HTML, CSS and browser JavaScript as strings; tsc does not copy other files).
 * The charts are drawn with uPlot, served from node_modules by the daemon (no CDN).
 *
 * The page polls /api/snapshot and /api/history?since=SEQ every 2 s and appends the new points.
 */

export const DASHBOARD_CSS = `
:root { --bg:#0f1419; --panel:#171d24; --fg:#d8dee9; --dim:#8b96a5; --ok:#5fd38d; --warn:#f0c05a; --bad:#ef6b73; --acc:#6cb6ff; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display:flex; align-items:baseline; gap:16px; padding:12px 20px; border-bottom:1px solid #263040; }
header h1 { font-size:18px; margin:0; }
header .dim { color:var(--dim); }
main { padding:14px 20px; display:grid; gap:14px; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); }
section { background:var(--panel); border-radius:8px; padding:12px 14px; min-width:0; }
section h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); margin:0 0 8px; }
section.wide { grid-column: 1 / -1; }
.kv { display:grid; grid-template-columns: repeat(auto-fit, minmax(150px,1fr)); gap:6px 14px; }
.kv div span { display:block; color:var(--dim); font-size:12px; }
.kv div b { font-weight:600; font-variant-numeric: tabular-nums; }
table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
th, td { text-align:right; padding:3px 8px; white-space:nowrap; }
th { color:var(--dim); font-weight:500; border-bottom:1px solid #263040; }
td.l, th.l { text-align:left; }
tr.sys-peer td { color:var(--ok); }
tr.falseticker td, tr.unreachable td { color:var(--bad); }
.sym { font-family: ui-monospace, monospace; font-weight:700; }
.badge { display:inline-block; padding:1px 7px; border-radius:9px; font-size:12px; }
.badge.ok { background:#1f4d33; color:var(--ok); } .badge.bad { background:#4d1f24; color:var(--bad); }
.legend-note { color:var(--dim); font-size:12px; margin-top:6px; }
.u-legend { color:var(--fg); font-size:12px; }
#err { color:var(--bad); }
`;

export const DASHBOARD_JS = `
(function () {
  'use strict';
  var SYM = { 'sys-peer': '*', combined: '+', outlier: '-', falseticker: 'x', jittery: '~', excess: '.',
    unreachable: '?', 'bad-distance': '?', unsynchronised: '?', 'bad-stratum': '?', loop: '?', noselect: ' ', pending: '?' };
  var COLORS = ['#6cb6ff', '#5fd38d', '#f0c05a', '#ef6b73', '#c490f5', '#4fd6d6', '#f59a5b', '#b3c26b'];
  var seq = 0;
  var sys = { t: [], offset: [], freq: [], bound: [], rate: [] };
  var src = {}; // id -> { label, t:[], offset:[], delay:[], jitter:[] }
  var charts = {};
  window.__ntpkit = { charts: charts, sys: sys, src: src, updates: 0 };

  function el(id) { return document.getElementById(id); }
  function fmtS(s) {
    if (s === null || s === undefined || !isFinite(s)) return '-';
    var a = Math.abs(s);
    if (a >= 1) return s.toFixed(3) + ' s';
    if (a >= 1e-3) return (s * 1e3).toFixed(3) + ' ms';
    return (s * 1e6).toFixed(1) + ' µs';
  }
  function fmtAge(s) {
    if (s === null || s === undefined) return '-';
    if (s < 120) return Math.round(s) + 's';
    if (s < 7200) return Math.round(s / 60) + 'm';
    if (s < 172800) return Math.round(s / 3600) + 'h';
    return Math.round(s / 86400) + 'd';
  }
  function esc(x) { return String(x).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }

  function renderSnapshot(d) {
    var s = d.system;
    el('sync').innerHTML = s.synchronised ? '<span class="badge ok">synchronised</span>' : '<span class="badge bad">unsynchronised</span>';
    el('meta').textContent = 'ntpkit ' + d.version + ' · up ' + fmtAge(d.uptime) + ' · clock ' + s.clock + ' (' + s.clockState + ')';
    var peer = s.sources.filter(function (x) { return x.id === s.sysPeer; })[0];
    var peerLabel = peer ? (peer.name && peer.name !== peer.address ? peer.name : peer.address + ':' + peer.port) : '-';
    var kv = [
      ['Stratum', s.stratum], ['Reference', s.refid], ['System peer', peerLabel],
      ['Offset', fmtS(s.offset)], ['Frequency', s.frequencyPpm.toFixed(3) + ' ppm'], ['Error bound', fmtS(s.errorBound)],
      ['Root delay', fmtS(s.rootDelay)], ['Root dispersion', fmtS(s.rootDispersion)], ['Root distance', fmtS(s.rootDistance)],
      ['Jitter', fmtS(s.jitter)], ['Wander', s.wander.toFixed(4) + ' ppm'], ['Poll', Math.pow(2, s.poll) + ' s'],
    ];
    el('system').innerHTML = kv.map(function (x) { return '<div><span>' + x[0] + '</span><b>' + esc(x[1]) + '</b></div>'; }).join('');
    var rows = s.sources.map(function (x) {
      return '<tr class="' + x.verdict + '" data-source="' + esc(x.address) + '">' +
        '<td class="l sym">' + esc(SYM[x.verdict] || '?') + '</td>' +
        '<td class="l">' + esc(x.name && x.name !== x.address ? x.name + ' (' + x.address + ')' : x.address + ':' + x.port) + '</td>' +
        '<td>' + x.stratum + '</td><td class="l">' + esc(x.refid) + '</td>' +
        '<td>' + (x.reach & 255).toString(8).padStart(3, '0') + '</td>' +
        '<td>' + fmtAge(x.when) + '/' + Math.pow(2, x.poll) + 's</td>' +
        '<td>' + fmtS(x.offset) + '</td><td>' + fmtS(x.delay) + '</td><td>' + fmtS(x.jitter) + '</td>' +
        '<td class="l">' + esc(x.verdict) + (x.interleaved ? ' · xleave' : '') + '</td>' +
        '<td class="l dim">' + esc(x.verdictReason) + '</td></tr>';
    }).join('');
    el('sources').innerHTML = rows || '<tr><td class="l" colspan="11">no sources</td></tr>';
    var v = d.server;
    el('server').innerHTML = [
      ['Requests', v.requests], ['Responses', v.responses], ['Interleaved', v.interleavedResponses],
      ['KoD sent', v.kodSent], ['Rate limited', v.rateLimited], ['Denied', v.denied], ['Dropped', v.dropped],
      ['Clients', v.clientsTracked],
      ['Requests/s', sys.rate.length ? sys.rate[sys.rate.length - 1].toFixed(1) : '-'],
    ].map(function (x) { return '<div><span>' + x[0] + '</span><b>' + esc(x[1]) + '</b></div>'; }).join('');
  }

  function addHistory(h) {
    if (h.seq < seq) {
      // The daemon restarted: its sequence numbers began again. Start over.
      [sys.t, sys.offset, sys.freq, sys.bound, sys.rate].forEach(function (a) { a.length = 0; });
      Object.keys(src).forEach(function (id) { delete src[id]; });
      seq = 0;
      return;
    }
    seq = h.seq;
    h.system.forEach(function (p) {
      sys.t.push(p.t); sys.offset.push(p.offset * 1e3); sys.freq.push(p.frequencyPpm);
      sys.bound.push(p.errorBound === null ? null : p.errorBound * 1e3); sys.rate.push(p.requestRate);
    });
    Object.keys(src).forEach(function (id) { if (!h.sources[id]) delete src[id]; });
    Object.keys(h.sources).forEach(function (id) {
      var e = src[id] || (src[id] = { label: h.sources[id].label, t: [], offset: [], delay: [], jitter: [] });
      e.label = h.sources[id].label;
      h.sources[id].points.forEach(function (p) {
        e.t.push(p.t); e.offset.push(p.offset * 1e3); e.delay.push(p.delay * 1e3); e.jitter.push(p.jitter * 1e3);
      });
    });
    var cap = 3600;
    [sys.t, sys.offset, sys.freq, sys.bound, sys.rate].forEach(function (a) { if (a.length > cap) a.splice(0, a.length - cap); });
    Object.keys(src).forEach(function (id) {
      var e = src[id];
      [e.t, e.offset, e.delay, e.jitter].forEach(function (a) { if (a.length > cap) a.splice(0, a.length - cap); });
    });
  }

  // Align the per-source series on the union of their timestamps (null where a source has no point).
  function aligned(key) {
    var ids = Object.keys(src).sort();
    var times = {};
    ids.forEach(function (id) { src[id].t.forEach(function (t) { times[t] = true; }); });
    var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (t, i) { index[t] = i; });
    var data = [xs];
    ids.forEach(function (id) {
      var ys = new Array(xs.length).fill(null);
      var e = src[id];
      for (var i = 0; i < e.t.length; i++) ys[index[e.t[i]]] = e[key][i];
      data.push(ys);
    });
    return { ids: ids, data: data };
  }

  function width(id) { return Math.max(300, el(id).clientWidth - 4); }

  function sourceChart(name, key, unit) {
    var a = aligned(key);
    var sig = a.ids.join('|');
    var c = charts[name];
    if (c && c._sig === sig) { c.setData(a.data); return; }
    if (c) { c.destroy(); }
    var series = [{}].concat(a.ids.map(function (id, i) {
      return { label: src[id].label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
        value: function (u, v) { return v === null ? '-' : v.toFixed(3) + ' ' + unit; } };
    }));
    c = new uPlot({ width: width('c-' + name), height: 220, series: series,
      axes: [{ stroke: '#8b96a5', grid: { stroke: '#263040' } },
             { stroke: '#8b96a5', grid: { stroke: '#263040' }, label: unit, size: 60 }] },
      a.data, el('c-' + name));
    c._sig = sig;
    charts[name] = c;
  }

  function systemChart(name, series, data) {
    var c = charts[name];
    if (c) { c.setData(data); return; }
    c = new uPlot({ width: width('c-' + name), height: 220, series: [{}].concat(series),
      axes: [{ stroke: '#8b96a5', grid: { stroke: '#263040' } },
             { stroke: '#8b96a5', grid: { stroke: '#263040' }, size: 60 },
             { side: 1, scale: 'r', stroke: '#8b96a5', grid: { show: false }, size: 60 }] },
      data, el('c-' + name));
    charts[name] = c;
  }

  function draw() {
    sourceChart('offset', 'offset', 'ms');
    sourceChart('delay', 'delay', 'ms');
    sourceChart('jitter', 'jitter', 'ms');
    systemChart('clock', [
      { label: 'frequency', stroke: '#6cb6ff', width: 1.5, value: function (u, v) { return v === null ? '-' : v.toFixed(3) + ' ppm'; } },
      { label: 'error bound', stroke: '#f0c05a', width: 1.5, scale: 'r', spanGaps: true, value: function (u, v) { return v === null ? '-' : v.toFixed(3) + ' ms'; } },
      { label: 'offset', stroke: '#5fd38d', width: 1, scale: 'r', value: function (u, v) { return v === null ? '-' : v.toFixed(3) + ' ms'; } },
    ], [sys.t, sys.freq, sys.bound, sys.offset]);
    systemChart('load', [
      { label: 'requests/s', stroke: '#c490f5', width: 1.5, fill: 'rgba(196,144,245,0.15)' },
    ], [sys.t, sys.rate]);
  }

  function get(url) {
    return fetch(url, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function tick() {
    Promise.all([get('api/snapshot'), get('api/history?since=' + seq)]).then(function (r) {
      addHistory(r[1]);
      renderSnapshot(r[0]);
      draw();
      window.__ntpkit.updates++;
      el('err').textContent = '';
    }).catch(function (e) { el('err').textContent = String(e && e.message || e); })
      .then(function () { setTimeout(tick, 2000); });
  }
  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (k) { charts[k].setSize({ width: width('c-' + k), height: 220 }); });
  });
  tick();
})();
`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ntpkit dashboard</title>
<link rel="stylesheet" href="assets/uPlot.min.css">
<link rel="stylesheet" href="assets/dashboard.css">
</head>
<body>
<header><h1>ntpkit</h1><span id="sync"></span><span id="meta" class="dim"></span><span id="err"></span></header>
<main>
<section class="wide"><h2>System</h2><div id="system" class="kv"></div></section>
<section class="wide"><h2>Sources</h2>
<table><thead><tr><th class="l">S</th><th class="l">source</th><th>st</th><th class="l">refid</th><th>reach</th><th>when/poll</th><th>offset</th><th>delay</th><th>jitter</th><th class="l">verdict</th><th class="l">why</th></tr></thead>
<tbody id="sources"></tbody></table>
<div class="legend-note">* system peer &nbsp; + combined &nbsp; - outlier &nbsp; x falseticker &nbsp; ~ jittery &nbsp; . excess &nbsp; ? unusable (see why)</div>
</section>
<section><h2>Offset per source</h2><div id="c-offset"></div></section>
<section><h2>Delay per source</h2><div id="c-delay"></div></section>
<section><h2>Jitter per source</h2><div id="c-jitter"></div></section>
<section><h2>Clock: frequency (ppm, left) · error bound and offset (ms, right)</h2><div id="c-clock"></div></section>
<section><h2>Server load</h2><div id="server" class="kv"></div><div id="c-load"></div></section>
</main>
<script src="assets/uPlot.iife.min.js"></script>
<script src="assets/dashboard.js"></script>
</body>
</html>
`;

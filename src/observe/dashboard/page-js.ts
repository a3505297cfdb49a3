/**
 * The dashboard's browser JavaScript (a string; tsc does not copy other files). It polls
 * /api/snapshot, /api/history?since=SEQ and /api/events?since=SEQ every 2 s and appends what is new.
 *
 * Charts (uPlot): offset, delay and jitter per source, and the clock's error bound and offset, on a
 * symmetric-log axis by default (µs detail survives next to a step; a button switches to linear),
 * over a time window chosen with the range buttons or by dragging across any chart (double-click:
 * back to the range), the same on every chart and on the event strip (strip-js.ts).
 */
import { SCALE_JS } from './scale.js';
import { STRIP_JS } from './strip-js.js';

export const DASHBOARD_JS = `
(function () {
  'use strict';
  ${SCALE_JS}
  var SYM = { 'sys-peer': '*', combined: '+', outlier: '-', falseticker: 'x', jittery: '~', excess: '.',
    unreachable: '?', 'bad-distance': '?', unsynchronised: '?', 'bad-stratum': '?', loop: '?', noselect: ' ', pending: '?' };
  var COLORS = ['#6cb6ff', '#5fd38d', '#f0c05a', '#ef6b73', '#c490f5', '#4fd6d6', '#f59a5b', '#b3c26b'];
  var HEIGHT = 240;
  // range: seconds of the window (null: all); zoom: [min, max] dragged on a chart; window: what is shown.
  var state = { seq: 0, epoch: null, evSeq: 0, evDropped: 0, limits: null, range: null, zoom: null, window: null, scale: 'symlog' };
  var sys = { fine: [], coarse: [] };
  var src = {}; // id -> { label, fine: [], coarse: [] }
  var charts = {};
  window.__ntpkit = { charts: charts, state: state, sys: sys, src: src, updates: 0 };

  function el(id) { return document.getElementById(id); }
  function fmtS(s) { return formatSeconds(s); }
  function fmtAge(s) {
    if (s === null || s === undefined) return '-';
    if (s < 120) return Math.round(s) + 's';
    if (s < 7200) return Math.round(s / 60) + 'm';
    if (s < 172800) return Math.round(s / 3600) + 'h';
    return Math.round(s / 86400) + 'd';
  }
  function esc(x) { return String(x).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }
  ${STRIP_JS}

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
    var last = sys.fine[sys.fine.length - 1];
    el('server').innerHTML = [
      ['Requests', v.requests], ['Responses', v.responses], ['Interleaved', v.interleavedResponses],
      ['KoD sent', v.kodSent], ['Rate limited', v.rateLimited], ['Denied', v.denied], ['Dropped', v.dropped],
      ['Clients', v.clientsTracked], ['Requests/s', last ? last.requestRate.toFixed(1) : '-'],
    ].map(function (x) { return '<div><span>' + x[0] + '</span><b>' + esc(x[1]) + '</b></div>'; }).join('');
  }

  function reset() {
    sys.fine.length = 0; sys.coarse.length = 0;
    Object.keys(src).forEach(function (id) { delete src[id]; });
    Object.keys(events).forEach(function (id) { delete events[id]; });
    state.seq = 0; state.evSeq = 0; state.zoom = null;
  }

  function trim(a, n) { if (a.length > n) a.splice(0, a.length - n); }

  // Returns false when what the page holds is stale (the daemon restarted, or its clock was stepped).
  function addHistory(h) {
    if ((state.epoch !== null && h.epoch !== state.epoch) || h.seq < state.seq) {
      state.epoch = h.epoch;
      reset();
      return false;
    }
    state.epoch = h.epoch; state.seq = h.seq; state.limits = h.limits;
    sys.fine.push.apply(sys.fine, h.system); sys.coarse.push.apply(sys.coarse, h.coarse.system);
    trim(sys.fine, h.limits.fine); trim(sys.coarse, h.limits.coarse);
    Object.keys(src).forEach(function (id) { if (!h.sources[id]) delete src[id]; });
    Object.keys(h.sources).forEach(function (id) {
      var e = src[id] || (src[id] = { label: h.sources[id].label, fine: [], coarse: [] });
      e.label = h.sources[id].label;
      e.fine.push.apply(e.fine, h.sources[id].points);
      e.coarse.push.apply(e.coarse, h.coarse.sources[id] || []);
      trim(e.fine, h.limits.fine); trim(e.coarse, h.limits.coarse);
    });
    return true;
  }

  // The coarse points older than the oldest sample, then the samples.
  function series(s) {
    var first = s.fine.length ? s.fine[0].t : Infinity;
    return s.coarse.filter(function (p) { return p.t < first; }).concat(s.fine);
  }

  // Align the per-source series on the union of their timestamps (null where a source has no point).
  function aligned(key) {
    var ids = Object.keys(src).sort();
    var times = {};
    var per = ids.map(function (id) { var ps = series(src[id]); ps.forEach(function (p) { times[p.t] = true; }); return ps; });
    var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (t, i) { index[t] = i; });
    var data = [xs];
    per.forEach(function (ps) {
      var ys = new Array(xs.length).fill(null);
      ps.forEach(function (p) { ys[index[p.t]] = p[key]; });
      data.push(ys);
    });
    return { ids: ids, data: data };
  }

  function width(id) { return Math.max(300, el(id).clientWidth - 4); }

  // A y scale (and its axis) in seconds: symmetric log with threshold c, or linear.
  function timeScale(c) {
    if (state.scale !== 'symlog') return { auto: true };
    return { distr: 100, fwd: function (v) { return symlogFwd(v, c); }, bwd: function (v) { return symlogBwd(v, c); },
      range: function (u, min, max) { return symlogRange(min, max, c); } };
  }
  function timeAxis(scale, c, side) {
    var a = { scale: scale, side: side, stroke: '#8b96a5', grid: { stroke: '#263040', show: side === 3 }, size: 72 };
    if (state.scale === 'symlog') {
      a.splits = function (u, i, min, max) { return symlogSplits(min, max, c, Math.floor(u.bbox.height / devicePixelRatio / 22)); };
      a.values = function (u, vs) { return symlogTickLabels(vs); };
      a.filter = function (u, vs) { return vs; }; // not uPlot's log filter (it drops what is not 1·10^k)
    } else {
      a.values = function (u, vs, i, space, incr) { return linearTickLabels(vs, incr); };
    }
    return a;
  }
  function fmtV(unit) {
    return function (u, v) { return v === null || v === undefined ? '-' : unit === 's' ? formatSeconds(v) : v.toFixed(3) + ' ' + unit; };
  }

  // uPlot options shared by every chart: the time window, drag-to-zoom applied to all charts, step markers.
  function baseOpts(name, series, scales, axes) {
    return { width: width('c-' + name), height: HEIGHT, series: [{}].concat(series), scales: scales,
      axes: [{ stroke: '#8b96a5', grid: { stroke: '#263040' } }].concat(axes),
      cursor: { drag: { x: true, y: false, setScale: false }, bind: { dblclick: function () { return null; } } },
      hooks: {
        setSelect: [function (u) {
          if (u.select.width < 4) return;
          var a = u.posToVal(u.select.left, 'x'), b = u.posToVal(u.select.left + u.select.width, 'x');
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          state.zoom = [a, b];
          applyWindow();
        }],
        ready: [function (u) { u.over.addEventListener('dblclick', function () { state.zoom = null; applyWindow(); }); }],
        draw: [drawStepMarkers],
      } };
  }

  function build(name, opts, data, sig) {
    var c = charts[name];
    if (c && c._sig === sig) { c.setData(data); return; }
    if (c) c.destroy();
    c = new uPlot(opts(), data, el('c-' + name));
    c._sig = sig;
    charts[name] = c;
  }

  function values(data) { var out = []; for (var i = 1; i < data.length; i++) out = out.concat(data[i]); return out; }

  function sourceChart(name, key) {
    var a = aligned(key);
    var c = symlogThreshold(values(a.data));
    build(name, function () {
      return baseOpts(name, a.ids.map(function (id, i) {
        return { label: src[id].label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, value: fmtV('s') };
      }), { y: timeScale(c) }, [timeAxis('y', c, 3)]);
    }, a.data, a.ids.join('|') + '|' + state.scale + '|' + c);
  }

  function draw() {
    sourceChart('offset', 'offset');
    sourceChart('delay', 'delay');
    sourceChart('jitter', 'jitter');
    var ps = series(sys);
    var t = ps.map(function (p) { return p.t; });
    var bound = ps.map(function (p) { return p.errorBound; }), off = ps.map(function (p) { return p.offset; });
    var c = symlogThreshold(off);
    build('clock', function () {
      return baseOpts('clock', [
        { label: 'frequency', stroke: '#6cb6ff', width: 1.5, value: fmtV('ppm') },
        { label: 'error bound', stroke: '#f0c05a', width: 1.5, scale: 's', spanGaps: true, value: fmtV('s') },
        { label: 'offset', stroke: '#5fd38d', width: 1, scale: 's', value: fmtV('s') },
      ], { s: timeScale(c) }, [
        { stroke: '#8b96a5', grid: { stroke: '#263040' }, size: 80, values: function (u, vs, i, space, incr) {
          var d = Math.min(6, Math.max(0, Math.ceil(-Math.log10(incr) - 1e-9)));
          return vs.map(function (v) { return v.toFixed(d) + ' ppm'; });
        } },
        timeAxis('s', c, 1),
      ]);
    }, [t, ps.map(function (p) { return p.frequencyPpm; }), bound, off], state.scale + '|' + c);
    build('load', function () {
      return baseOpts('load', [{ label: 'requests/s', stroke: '#c490f5', width: 1.5, fill: 'rgba(196,144,245,0.15)' }], {},
        [{ stroke: '#8b96a5', grid: { stroke: '#263040' }, size: 60 }]);
    }, [t, ps.map(function (p) { return p.requestRate; })], 'load');
    applyWindow();
  }

  // The time window (range buttons, zoom) on every chart and on the event strip.
  function applyWindow() {
    var ps = series(sys);
    var first = ps.length ? ps[0].t : null, last = ps.length ? ps[ps.length - 1].t : null;
    Object.keys(src).forEach(function (id) {
      var s = series(src[id]);
      if (s.length) { first = first === null ? s[0].t : Math.min(first, s[0].t); last = last === null ? s[s.length - 1].t : Math.max(last, s[s.length - 1].t); }
    });
    state.window = timeWindow(first, last, state.range, state.zoom);
    if (state.window !== null) {
      Object.keys(charts).forEach(function (k) { charts[k].setScale('x', { min: state.window[0], max: state.window[1] }); });
    }
    Array.prototype.forEach.call(document.querySelectorAll('#ranges button'), function (b) {
      var r = b.getAttribute('data-range');
      b.classList.toggle('on', state.zoom === null && (r === 'all' ? state.range === null : Number(r) === state.range));
    });
    el('zoom-note').textContent = state.zoom === null ? '' : 'zoomed (double-click a chart to go back)';
    renderEvents();
  }

  // The range and the axes are kept in the address (#range=600&scale=linear), for bookmarks and reloads.
  function saveHash() {
    history.replaceState(null, '', '#range=' + (state.range === null ? 'all' : state.range) + '&scale=' + state.scale);
  }
  function loadHash() {
    var m = /range=(\\d+|all)/.exec(location.hash), k = /scale=(symlog|linear)/.exec(location.hash);
    if (m) state.range = m[1] === 'all' ? null : Number(m[1]);
    if (k) state.scale = k[1];
  }
  function setRange(r) { state.range = r === 'all' ? null : Number(r); state.zoom = null; saveHash(); applyWindow(); }
  function setScale(s) {
    state.scale = s;
    saveHash();
    Array.prototype.forEach.call(document.querySelectorAll('#scales button'), function (b) { b.classList.toggle('on', b.getAttribute('data-scale') === s); });
    draw();
  }

  function get(url) {
    return fetch(url, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function tick() {
    var again = 2000;
    Promise.all([get('api/snapshot'), get('api/history?since=' + state.seq), get('api/events?since=' + state.evSeq)]).then(function (r) {
      if (!addHistory(r[1])) { again = 0; return; }
      addEvents(r[2]);
      renderSnapshot(r[0]);
      draw();
      window.__ntpkit.updates++;
      el('err').textContent = '';
    }).catch(function (e) { el('err').textContent = String(e && e.message || e); })
      .then(function () { setTimeout(tick, again); });
  }
  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (k) { charts[k].setSize({ width: width('c-' + k), height: HEIGHT }); });
  });
  el('ranges').addEventListener('click', function (e) { var b = e.target.closest('button'); if (b) setRange(b.getAttribute('data-range')); });
  el('scales').addEventListener('click', function (e) { var b = e.target.closest('button'); if (b) setScale(b.getAttribute('data-scale')); });
  el('events').addEventListener('click', onStripClick);
  el('events').addEventListener('mouseover', function (e) { if (e.target.closest('.ev')) onStripClick(e); });
  loadHash();
  setScale(state.scale);
  tick();
})();
`;

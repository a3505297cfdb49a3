/**
 * The dashboard's event strip (browser JavaScript, inserted into the page's script by page-js.ts):
 * one lane each for the clock (steps, slews, synchronisation), the sources (system peer, added,
 * removed, reachability), leap seconds and KoDs received, over the charts' time window; hover for
 * a one-line summary, click for the details. Clock steps are also drawn as dashed lines across
 * every chart (`drawStepMarkers`, a uPlot draw hook).
 */
export const STRIP_JS = `
  var LANES = [['clock', 'clock'], ['source', 'sources'], ['leap', 'leap'], ['kod', 'KoD']];
  var events = {}; // id -> event (a folded repeat replaces its earlier copy)

  function addEvents(d) {
    d.events.forEach(function (e) { events[e.id] = e; });
    var ids = Object.keys(events).map(Number).sort(function (a, b) { return a - b; });
    while (ids.length > d.capacity) delete events[ids.shift()];
    state.evSeq = d.seq;
    state.evDropped = d.dropped;
  }

  function eventList() {
    return Object.keys(events).map(function (k) { return events[k]; })
      .filter(function (e) { return e.t !== null; })
      .sort(function (a, b) { return a.t - b.t || a.id - b.id; });
  }

  function fmtTime(t) {
    if (t === null || t === undefined) return '-';
    var d = new Date(t * 1000);
    return d.toISOString().replace('T', ' ').replace(/\\.\\d+Z$/, 'Z');
  }

  function eventTitle(e) {
    return fmtTime(e.t) + '  ' + e.text + (e.count > 1 ? '  (x' + e.count + ', last ' + fmtTime(e.last) + ')' : '');
  }

  function showEvent(e) {
    var rows = [['time', fmtTime(e.t)], ['what', e.text], ['kind', e.kind]];
    if (e.count > 1) rows.push(['repeats', e.count + ' times, last at ' + fmtTime(e.last)]);
    if (e.source !== undefined) rows.push(['source', e.source + ' (id ' + e.sourceId + ')']);
    if (e.offset !== undefined) rows.push(['offset', fmtS(e.offset) + ' (' + e.offset.toFixed(9) + ' s)']);
    ['reason', 'cause', 'code', 'action'].forEach(function (k) { if (e[k] !== undefined) rows.push([k, e[k]]); });
    el('ev-detail').innerHTML = rows.map(function (r) { return '<div><span>' + esc(r[0]) + '</span><b>' + esc(r[1]) + '</b></div>'; }).join('');
    el('ev-detail').setAttribute('data-id', String(e.id));
    Array.prototype.forEach.call(document.querySelectorAll('.ev.sel, #ev-list tr.sel'), function (x) { x.classList.remove('sel'); });
    Array.prototype.forEach.call(document.querySelectorAll('[data-ev="' + e.id + '"]'), function (x) { x.classList.add('sel'); });
  }

  function renderEvents() {
    var w = state.window;
    var list = eventList();
    var shown = w === null ? [] : list.filter(function (e) { return e.last >= w[0] && e.t <= w[1]; });
    LANES.forEach(function (lane) {
      var track = document.querySelector('#strip .lane[data-lane="' + lane[0] + '"] .track');
      track.innerHTML = shown.filter(function (e) { return e.lane === lane[0]; }).map(function (e) {
        var x = Math.max(0, Math.min(100, (e.t - w[0]) / (w[1] - w[0]) * 100));
        return '<span class="ev k-' + esc(e.kind) + '" data-ev="' + e.id + '" data-kind="' + esc(e.kind) + '" style="left:' + x.toFixed(3) + '%" title="' + esc(eventTitle(e)) + '">' +
          (e.count > 1 ? '<i>' + e.count + '</i>' : '') + '</span>';
      }).join('');
    });
    el('ev-list').innerHTML = shown.slice(-50).reverse().map(function (e) {
      return '<tr data-ev="' + e.id + '"><td class="l">' + esc(fmtTime(e.t)) + '</td><td class="l">' + esc(e.lane) + '</td>' +
        '<td class="l">' + esc(e.text) + '</td><td>' + (e.count > 1 ? 'x' + e.count : '') + '</td></tr>';
    }).join('') || '<tr><td class="l" colspan="4">no events in this time range</td></tr>';
    el('ev-note').textContent = shown.length + ' of ' + list.length + ' events in this range' +
      (state.evDropped > 0 ? ' (' + state.evDropped + ' older ones no longer kept)' : '');
    var sel = el('ev-detail').getAttribute('data-id');
    if (sel !== null && events[sel] !== undefined) showEvent(events[sel]);
  }

  function onStripClick(ev) {
    var t = ev.target.closest('[data-ev]');
    if (t !== null && events[t.getAttribute('data-ev')] !== undefined) showEvent(events[t.getAttribute('data-ev')]);
  }

  // uPlot draw hook: clock steps as dashed lines with their size.
  function drawStepMarkers(u) {
    var ctx = u.ctx, sx = u.scales.x;
    if (sx.min === null || sx.max === null) return;
    ctx.save();
    ctx.strokeStyle = '#ef6b73'; ctx.fillStyle = '#ef6b73';
    ctx.lineWidth = Math.max(1, devicePixelRatio);
    ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.font = (11 * devicePixelRatio) + 'px system-ui, sans-serif';
    eventList().forEach(function (e) {
      if (e.kind !== 'clock-step' || e.t < sx.min || e.t > sx.max) return;
      var x = Math.round(u.valToPos(e.t, 'x', true));
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.fillText('step ' + fmtS(e.offset), x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
    });
    ctx.restore();
  }
`;

export const STRIP_HTML = `<section class="wide" id="events"><h2>Events</h2>
<div id="strip">
<div class="lane" data-lane="clock"><span class="lname">clock</span><div class="track"></div></div>
<div class="lane" data-lane="source"><span class="lname">sources</span><div class="track"></div></div>
<div class="lane" data-lane="leap"><span class="lname">leap</span><div class="track"></div></div>
<div class="lane" data-lane="kod"><span class="lname">KoD</span><div class="track"></div></div>
</div>
<div id="ev-detail" class="kv">Hover over an event for a summary, click it for the details.</div>
<table><thead><tr><th class="l">time (UTC)</th><th class="l">lane</th><th class="l">event</th><th></th></tr></thead>
<tbody id="ev-list"></tbody></table>
<div id="ev-note" class="legend-note"></div>
</section>`;

export const STRIP_CSS = `
#strip { margin:4px 0 8px; }
.lane { display:flex; align-items:center; height:22px; border-bottom:1px solid #263040; }
.lane .lname { width:70px; color:var(--dim); font-size:12px; }
.lane .track { position:relative; flex:1; height:100%; }
.ev { position:absolute; top:4px; width:12px; height:14px; margin-left:-6px; border-radius:3px; cursor:pointer; background:var(--acc); }
.ev i { position:absolute; left:14px; top:-1px; font-size:10px; font-style:normal; color:var(--dim); }
.ev.k-clock-step, .ev.k-clock-panic, .ev.k-served-time-violation { background:var(--bad); }
.ev.k-clock-slew, .ev.k-sync { background:var(--warn); }
.ev.k-sys-peer { background:var(--ok); }
.ev.k-unreachable, .ev.k-source-removed { background:#8b96a5; }
.ev.k-leap { background:#c490f5; }
.ev.k-kod { background:#f59a5b; }
.ev.sel { outline:2px solid var(--fg); }
#ev-list tr.sel td { color:var(--acc); }
#ev-detail { min-height:40px; color:var(--dim); margin-bottom:6px; }
`;

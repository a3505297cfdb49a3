/**
 * The dashboard page (HTML and CSS as strings; tsc does not copy other files). Its script is in
 * page-js.ts (charts, polling), strip-js.ts (the event strip) and scale.ts (axis arithmetic). The
 * charts are drawn with uPlot, served from node_modules by the daemon (no CDN).
 */
import { STRIP_CSS, STRIP_HTML } from './strip-js.js';

export { DASHBOARD_JS } from './page-js.js';

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
.controls { display:flex; flex-wrap:wrap; align-items:center; gap:6px 14px; }
.controls .group { display:flex; gap:4px; align-items:center; }
.controls .group > span { color:var(--dim); font-size:12px; margin-right:4px; }
.controls button { background:#222b36; color:var(--fg); border:1px solid #2f3b4b; border-radius:5px; padding:3px 10px; font:inherit; font-size:12px; cursor:pointer; }
.controls button.on { background:#2c4a6e; border-color:var(--acc); }
#zoom-note { color:var(--warn); font-size:12px; }
${STRIP_CSS}`;

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
<section class="wide controls">
<div class="group" id="ranges"><span>time range</span><button data-range="600">10 min</button><button data-range="3600">1 h</button><button data-range="21600">6 h</button><button data-range="86400">24 h</button><button data-range="all">all</button></div>
<div class="group" id="scales"><span>offset/delay/jitter axes</span><button data-scale="symlog">symlog</button><button data-scale="linear">linear</button></div>
<span class="legend-note">drag across a chart to zoom (all charts follow); red dashed lines: clock steps</span><span id="zoom-note"></span>
</section>
<section><h2>Offset per source</h2><div id="c-offset"></div></section>
<section><h2>Delay per source</h2><div id="c-delay"></div></section>
<section><h2>Jitter per source</h2><div id="c-jitter"></div></section>
<section><h2>Clock: frequency (left) · error bound and offset (right)</h2><div id="c-clock"></div></section>
<section><h2>Server load</h2><div id="server" class="kv"></div><div id="c-load"></div></section>
${STRIP_HTML}
</main>
<script src="assets/uPlot.iife.min.js"></script>
<script src="assets/dashboard.js"></script>
</body>
</html>
`;

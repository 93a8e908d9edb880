/**
 * The dashboard page (served as-is by dashboard.ts): no build step, no dependencies. It connects to
 * /dashboard/ws on the same host, reconnects when the socket drops, and redraws on every message.
 * Element ids are a contract with test/e2e/ops-dashboard.test.ts.
 */
export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>istiod-ts dashboard</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f4f6f8; color: #1d2733; }
  header { background: #1d3557; color: #fff; padding: 10px 18px; display: flex; gap: 24px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  .badge { padding: 2px 8px; border-radius: 4px; background: #2a9d8f; font-weight: 600; }
  .badge.Degraded { background: #e9c46a; color: #000; } .badge.Stopping, .badge.Stopped { background: #e63946; }
  .badge.offline { background: #6c757d; }
  main { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; padding: 14px; }
  section { background: #fff; border-radius: 6px; padding: 10px 14px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  section h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .05em; color: #457b9d; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #e3e7eb; }
  .SYNCED { color: #2a9d8f; } .STALE { color: #e76f51; } .NOT_SENT { color: #8d99ae; }
  canvas { width: 100%; height: 180px; }
  .wide { grid-column: 1 / span 2; }
  .bar { height: 16px; background: #e3e7eb; border-radius: 3px; overflow: hidden; margin: 4px 0 10px; }
  .bar > div { height: 100%; background: #457b9d; }
</style>
</head>
<body>
<header>
  <h1>istiod-ts</h1>
  <span>state <span id="state" class="badge offline">connecting</span></span>
  <span>snapshot <b id="snapshot">-</b></span>
  <span>proxies <b id="proxy-count">0</b></span>
  <span>pushes <b id="push-count">0</b></span>
  <span id="updated"></span>
</header>
<main>
  <section class="wide"><h2>Push timeline (ms per push, newest right)</h2><canvas id="timeline" width="1200" height="180"></canvas></section>
  <section><h2>Convergence (pilot_proxy_convergence_time)</h2><canvas id="convergence" width="600" height="180"></canvas></section>
  <section><h2>Worker pools</h2><div id="pools"></div></section>
  <section class="wide"><h2>Connected proxies</h2>
    <table><thead><tr><th>NAME</th><th>KIND</th><th>CDS</th><th>LDS</th><th>EDS</th><th>RDS</th><th>CONNECTED</th></tr></thead><tbody id="proxies"></tbody></table>
  </section>
  <section class="wide"><h2>Recent pushes</h2>
    <table><thead><tr><th>#</th><th>VERSION</th><th>STARTED</th><th>TRIGGER</th><th>PROXIES</th><th>BYTES</th><th>TOTAL MS</th><th>STAGES</th></tr></thead><tbody id="pushes"></tbody></table>
  </section>
</main>
<script>
(function () {
  var messages = 0;
  function $(id) { return document.getElementById(id); }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }
  function bars(canvas, values, labels, color) {
    var ctx = canvas.getContext('2d'), w = canvas.width, h = canvas.height;
    ctx.fillStyle = '#ffffff'; ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = '#c9d1d9'; ctx.beginPath(); ctx.moveTo(30, h - 20); ctx.lineTo(w, h - 20); ctx.stroke();
    var max = Math.max.apply(null, values.concat([1]));
    var bw = Math.min(48, (w - 40) / Math.max(values.length, 1));
    ctx.font = '11px sans-serif';
    for (var i = 0; i < values.length; i++) {
      var bh = (h - 40) * values[i] / max;
      ctx.fillStyle = color; ctx.fillRect(34 + i * bw, h - 20 - bh, Math.max(bw - 3, 1), bh);
      if (labels && labels[i] !== undefined && values.length <= 20) { ctx.fillStyle = '#1d2733'; ctx.fillText(labels[i], 34 + i * bw, h - 6); }
    }
    ctx.fillStyle = '#1d2733'; ctx.fillText(String(Math.round(max * 10) / 10), 2, 14);
  }
  function render(s) {
    messages++;
    var st = $('state'); st.textContent = s.state; st.className = 'badge ' + s.state;
    $('snapshot').textContent = s.snapshotVersion;
    $('proxy-count').textContent = s.proxyCount;
    $('push-count').textContent = s.pushes.length;
    $('updated').textContent = 'updated ' + s.time.replace('T', ' ').replace(/\..*/, '') + ' (' + messages + ')';
    $('proxies').innerHTML = s.proxies.map(function (p) {
      function t(k) { var v = p.types[k] || 'NOT SENT'; return '<td class="' + v.replace(' ', '_') + '">' + v + '</td>'; }
      return '<tr><td>' + esc(p.id) + '</td><td>' + esc(p.kind + '/' + p.generator) + '</td>' + t('cds') + t('lds') + t('eds') + t('rds') + '<td>' + esc(p.connectedAt) + '</td></tr>';
    }).join('');
    $('pushes').innerHTML = s.pushes.map(function (p) {
      var stages = Object.keys(p.stages).map(function (k) { return k + ' ' + p.stages[k].toFixed(1); }).join(', ');
      return '<tr class="push-row"><td>' + p.id + '</td><td>' + p.version + '</td><td>' + esc(p.startedAt) + '</td><td>' + esc(Object.keys(p.trigger).join(',')) +
        '</td><td>' + p.proxies + '</td><td>' + p.bytes + '</td><td>' + p.totalMs.toFixed(1) + '</td><td>' + esc(stages) + (p.error ? ' <b>' + esc(p.error) + '</b>' : '') + '</td></tr>';
    }).join('');
    var timeline = s.pushes.slice().reverse();
    bars($('timeline'), timeline.map(function (p) { return p.totalMs; }), timeline.map(function (p) { return '#' + p.id; }), '#457b9d');
    var prev = 0, counts = [], les = [];
    s.convergence.buckets.forEach(function (b) { counts.push(b.count - prev); prev = b.count; les.push('≤' + b.le); });
    bars($('convergence'), counts, les, '#2a9d8f');
    $('pools').innerHTML = Object.keys(s.pools).map(function (name) {
      var p = s.pools[name], pct = Math.round(p.utilization * 1000) / 10;
      return '<div class="pool" data-pool="' + esc(name) + '"><b>' + esc(name) + '</b>: ' + p.threads + ' threads, queue ' + p.queueSize + ', ' + p.completed +
        ' jobs, utilisation ' + pct + '%<div class="bar"><div style="width:' + Math.min(100, pct) + '%"></div></div></div>';
    }).join('');
    window.__dashboardState = s;
  }
  function connect() {
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/dashboard/ws');
    ws.onmessage = function (e) { render(JSON.parse(e.data)); };
    ws.onclose = function () { var st = $('state'); st.textContent = 'offline'; st.className = 'badge offline'; setTimeout(connect, 1000); };
  }
  connect();
})();
</script>
</body>
</html>
`;

/**
 * The interactive layer of the HTML report: uPlot (npm `uplot`, MIT; its minified IIFE build and
 * CSS inlined into the page, so the file still opens offline) draws every plot of the report with
 * hover values in the legend under the plot, drag-to-zoom (double-click resets), TensorBoard's
 * smoothing (a debiased exponential moving average, weight 0-0.99, TensorBoard's default 0.6), a
 * log y scale (for series that are positive throughout), and an x axis of steps or of cumulative
 * step time (the sum of `timing_s/step`, seconds: the time spent in steps, evaluations and
 * checkpoints excluded). A search box filters the sample log. Without JavaScript the inline SVG
 * plots (./html.ts) stay as they are.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** One plotted series of one run: [x, y] points (x = step). */
export interface InteractiveLine {
  name: string;
  points: [number, number][];
}

/** What the page's script draws: per plot key, its lines; per run, step -> cumulative seconds. */
export interface InteractiveData {
  plots: Record<string, InteractiveLine[]>;
  /** Per run: [step, cumulative timing_s/step in seconds] (empty when the run has no step times). */
  time: Record<string, [number, number][]>;
}

let assets: { js: string; css: string } | undefined;

/** uPlot's minified script and stylesheet, read once from the installed package. */
function uplotAssets(): { js: string; css: string } {
  if (!assets) {
    const require = createRequire(import.meta.url);
    assets = {
      js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    };
  }
  return assets;
}

/** JSON safe inside a `<script>` element (no `</script>`, no `<!--`). */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c');
}

/** The page script (plain ES2017, runs in any current browser). */
const APP = String.raw`
(function () {
  var data = JSON.parse(document.getElementById('gtr-data').textContent);
  var COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
  var state = { smoothing: 0.6, log: false, x: 'step' };
  var runs = [];
  Object.keys(data.plots).forEach(function (k) { data.plots[k].forEach(function (l) { if (runs.indexOf(l.name) < 0) runs.push(l.name); }); });
  var charts = [];
  function ema(ys, w) {
    var out = [], last = 0, n = 0;
    for (var i = 0; i < ys.length; i++) {
      var y = ys[i];
      if (y == null || !isFinite(y)) { out.push(y); continue; }
      last = last * w + (1 - w) * y; n++;
      out.push(w > 0 ? last / (1 - Math.pow(w, n)) : y);
    }
    return out;
  }
  function timeOf(run) {
    var m = {}; (data.time[run] || []).forEach(function (p) { m[p[0]] = p[1]; }); return m;
  }
  function build(fig) {
    var key = fig.getAttribute('data-title');
    var lines = data.plots[fig.getAttribute('data-plot')];
    if (!lines) return;
    var useTime = state.x === 'time' && lines.every(function (l) { return (data.time[l.name] || []).length > 0; });
    var tables = lines.map(function (l) {
      var tm = useTime ? timeOf(l.name) : null;
      var pts = l.points.filter(function (p) { return !tm || tm[p[0]] !== undefined; });
      return [pts.map(function (p) { return tm ? tm[p[0]] : p[0]; }), pts.map(function (p) { return p[1]; })];
    });
    var joined = uPlot.join(tables);
    var xs = joined[0];
    var positive = lines.every(function (l) { return l.points.every(function (p) { return p[1] > 0; }); });
    var logY = state.log && positive;
    var smoothOn = state.smoothing > 0;
    var series = [{ label: useTime ? 'time (s)' : 'step' }];
    var cols = [xs];
    lines.forEach(function (l, i) {
      var c = COLORS[runs.indexOf(l.name) % COLORS.length];
      var ys = joined[i + 1];
      if (smoothOn) {
        series.push({ label: l.name + ' (raw)', stroke: c, alpha: 0.25, width: 1, spanGaps: true, points: { show: false } });
        cols.push(ys);
        series.push({ label: l.name, stroke: c, width: 2, spanGaps: true });
        cols.push(ema(ys, state.smoothing));
      } else {
        series.push({ label: l.name, stroke: c, width: 1.5, spanGaps: true });
        cols.push(ys);
      }
    });
    var host = fig.querySelector('.uplot-host');
    if (!host) {
      host = document.createElement('div');
      host.className = 'uplot-host';
      fig.appendChild(host);
    }
    host.innerHTML = '';
    var svg = fig.querySelector('svg');
    if (svg) svg.style.display = 'none';
    var width = Math.max(280, fig.clientWidth - 12);
    var u = new uPlot({
      title: key + (logY ? ' (log)' : ''),
      width: width,
      height: 240,
      scales: { x: { time: false }, y: logY ? { distr: 3 } : {} },
      axes: [{ label: useTime ? 'cumulative step time (s)' : 'step' }, { size: 60 }],
      series: series,
      cursor: { drag: { x: true, y: false }, focus: { prox: 16 } },
      legend: { live: true },
    }, cols, host);
    charts.push(u);
  }
  function rebuild() {
    charts.forEach(function (u) { u.destroy(); });
    charts = [];
    Array.prototype.forEach.call(document.querySelectorAll('figure[data-plot]'), build);
  }
  var sm = document.getElementById('smoothing');
  var smv = document.getElementById('smoothing-value');
  sm.addEventListener('input', function () { state.smoothing = Number(sm.value); smv.textContent = state.smoothing.toFixed(2); rebuild(); });
  document.getElementById('logscale').addEventListener('change', function (e) { state.log = e.target.checked; rebuild(); });
  document.getElementById('xaxis').addEventListener('change', function (e) { state.x = e.target.value; rebuild(); });
  var resizeTimer;
  window.addEventListener('resize', function () { clearTimeout(resizeTimer); resizeTimer = setTimeout(rebuild, 150); });
  var search = document.getElementById('sample-search');
  if (search) {
    var count = document.getElementById('sample-count');
    search.addEventListener('input', function () {
      var q = search.value.trim().toLowerCase(), shown = 0;
      Array.prototype.forEach.call(document.querySelectorAll('details.samples'), function (d) {
        var any = false;
        Array.prototype.forEach.call(d.querySelectorAll('tbody tr'), function (tr) {
          var hit = !q || tr.textContent.toLowerCase().indexOf(q) >= 0;
          tr.style.display = hit ? '' : 'none';
          if (hit) { any = true; shown++; }
        });
        d.style.display = any ? '' : 'none';
        d.open = !!q && any;
      });
      count.textContent = q ? shown + ' matching' : '';
    });
  }
  rebuild();
})();
`;

/** The controls bar shown above the plots. */
export function interactiveControls(): string {
  return (
    '<div class="controls" id="controls">' +
    '<label>smoothing <input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0.6"> <span id="smoothing-value">0.60</span></label>' +
    '<label><input type="checkbox" id="logscale"> log y (positive series)</label>' +
    '<label>x axis <select id="xaxis"><option value="step">step</option><option value="time">cumulative step time</option></select></label>' +
    '<span class="hint">hover: values in the legend; drag: zoom; double-click: reset</span>' +
    '</div>'
  );
}

/** The sample log's search box. */
export function sampleSearch(): string {
  return '<p><input type="search" id="sample-search" placeholder="search samples (prompt, response, id, ...)" size="48"> <span id="sample-count"></span></p>';
}

/** Head additions: uPlot's CSS and the page's own. */
export function interactiveHead(): string {
  return (
    `<style>${uplotAssets().css}</style>` +
    '<style>.controls{position:sticky;top:0;z-index:5;background:#fff;padding:8px 0;border-bottom:1px solid #ddd;display:flex;gap:24px;align-items:center;flex-wrap:wrap}' +
    '.controls .hint{color:#777;font-size:90%}.uplot .u-title{font-size:13px;font-weight:600}.uplot .u-legend{font-size:12px;text-align:left}</style>'
  );
}

/** Body end: the data, uPlot and the page script. */
export function interactiveScripts(data: InteractiveData): string {
  return (
    `<script type="application/json" id="gtr-data">${scriptJson(data)}</script>` +
    `<script>${uplotAssets().js}</script>` +
    `<script>${APP}</script>`
  );
}

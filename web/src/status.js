// The status page: live charts of what /api/status reports (slot lag, throughput, commit to
// mirror and to archive), polled every second, and the snapshot's progress.
import uPlot from 'uplot';
import { getJson, escapeHtml, formatBytes } from './api.js';

const kPoints = 120;

export function renderStatus(root) {
  root.innerHTML = `
    <section class="status">
      <div id="figures" class="figures"></div>
      <div id="snapshot"></div>
      <div class="charts">
        <div class="chart"><h3>Slot lag</h3><div id="lag"></div></div>
        <div class="chart"><h3>Changes per second</h3><div id="rate"></div></div>
        <div class="chart"><h3>Commit → mirror, heartbeat age in the archive (s)</h3><div id="latency"></div></div>
      </div>
    </section>`;
  const series = { t: [], lag: [], rate: [], mirror: [], archive: [] };
  // Three side by side in the page's content box (clientWidth includes its padding).
  const style = getComputedStyle(root);
  const inner = root.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const width = Math.max(300, Math.min(560, inner / 3 - 40));
  const make = (id, lines, values) => new uPlot({
    width, height: 200,
    series: [{}, ...lines.map(([label, stroke]) => ({ label, stroke, width: 2 }))],
    axes: [{}, { size: 70, values }],
  }, [[], ...lines.map(() => [])], root.querySelector(id));
  const charts = {
    lag: make('#lag', [['lag', '#3b82f6']], (u, ticks) => ticks.map(formatBytes)),
    rate: make('#rate', [['changes/s', '#10b981']]),
    latency: make('#latency', [['mirror', '#f59e0b'], ['archive', '#8b5cf6']]),
  };
  let previous = null;
  const tick = async () => {
    let status;
    try {
      status = await getJson('/api/status');
    } catch (error) {
      root.querySelector('#figures').textContent = error.message;
      return;
    }
    const now = Date.now() / 1000;
    const rate = previous ? (status.changes - previous.changes) / (now - previous.at) : 0;
    previous = { changes: status.changes, at: now };
    push(series.t, now);
    push(series.lag, Math.max(0, status.slot.lag_bytes));
    push(series.rate, Math.max(0, rate));
    push(series.mirror, status.canary.latency_s >= 0 ? status.canary.latency_s : null);
    push(series.archive, status.canary.archive_age_s >= 0 ? status.canary.archive_age_s : null);
    charts.lag.setData([series.t, series.lag]);
    charts.rate.setData([series.t, series.rate]);
    charts.latency.setData([series.t, series.mirror, series.archive]);
    renderFigures(root.querySelector('#figures'), status);
    renderSnapshot(root.querySelector('#snapshot'), status.snapshot);
  };
  tick();
  const timer = setInterval(tick, 1000);
  return () => {
    clearInterval(timer);
    Object.values(charts).forEach((chart) => chart.destroy());
  };
}

function push(list, value) {
  list.push(value);
  if (list.length > kPoints) list.shift();
}

function renderFigures(box, status) {
  const figure = (label, value) =>
    `<div class="figure"><span>${escapeHtml(label)}</span><b>${escapeHtml(value)}</b></div>`;
  box.innerHTML = [
    figure('slot', status.slot.name),
    figure('confirmed', status.slot.confirmed_lsn),
    figure('lag', formatBytes(Math.max(0, status.slot.lag_bytes))),
    figure('transactions', status.transactions.toLocaleString()),
    figure('changes', status.changes.toLocaleString()),
    figure('archive', `${formatBytes(status.archive.bytes)} in ${status.archive.commits} commits`),
    figure('canary', status.canary.fresh ? 'fresh' : `stale at ${status.canary.stuck}`),
  ].join('');
}

function renderSnapshot(box, snapshot) {
  if (!snapshot || !snapshot.job) {
    box.innerHTML = '';
    return;
  }
  box.innerHTML = `<h3>Snapshot ${escapeHtml(snapshot.job)} (${escapeHtml(snapshot.reason)})</h3>` +
    snapshot.tables.map((t) => {
      const done = t.estimated_rows > 0 ? Math.min(100, (100 * t.rows) / t.estimated_rows) : 0;
      return `<div class="progress"><span>${escapeHtml(t.table)}</span>
        <progress max="100" value="${done.toFixed(0)}"></progress>
        <span>${t.rows.toLocaleString()} of ~${t.estimated_rows.toLocaleString()} rows</span></div>`;
    }).join('');
}

// The fleet map: every aircraft of the `positions` topic where its latest message puts it,
// moving live from /api/topics/positions/feed; the latest-per-key table's size; and the
// history questions one click away on the SQL page.
import { geoAlbersUsa, geoPath } from 'd3-geo';
import { feature, mesh } from 'topojson-client';
import states from 'us-atlas/states-10m.json';
import { feed, query, escapeHtml } from './api.js';

const kTopic = 'positions';
export const kHistoryQuestion =
  `SELECT key AS aircraft, count(*) AS positions, min(_walden_commit_ts) AS first_seen,
  max(_walden_commit_ts) AS last_seen
FROM history.walden_topics.${kTopic}
WHERE _walden_commit_ts > now() - INTERVAL 10 MINUTE
GROUP BY ALL ORDER BY positions DESC`;

export function renderMap(root) {
  root.innerHTML = `<section class="map">
    <div class="toolbar"><b id="fleet-count">0 aircraft</b>
      <span id="fleet-rate" class="muted"></span>
      <span id="fleet-table" class="muted"></span>
      <span id="fleet-state" class="pill">connecting</span>
      <button id="history">Positions per aircraft, last 10 minutes</button></div>
    <canvas id="canvas"></canvas></section>`;
  const canvas = root.querySelector('#canvas');
  const width = Math.max(640, Math.min(1200, root.clientWidth - 32));
  const height = Math.round(width * 0.6);
  const ratio = window.devicePixelRatio || 1;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const context = canvas.getContext('2d');
  context.scale(ratio, ratio);
  const land = feature(states, states.objects.nation);
  const projection = geoAlbersUsa().fitSize([width, height], land);
  const path = geoPath(projection, context);
  const borders = mesh(states, states.objects.states, (a, b) => a !== b);
  const aircraft = new Map();  // key → {lon, lat, heading}
  const fleet = { count: 0, updates: 0, sample: null, positions: aircraft };
  window.__fleet = fleet;  // what the browser test reads
  let received = 0;
  let drawn = false;
  const draw = () => {
    context.clearRect(0, 0, width, height);
    context.fillStyle = '#eef2f7';
    context.beginPath(); path(land); context.fill();
    context.strokeStyle = '#b8c2d0';
    context.lineWidth = 0.7;
    context.beginPath(); path(borders); context.stroke();
    context.fillStyle = '#d9480f';
    for (const plane of aircraft.values()) {
      const at = projection([plane.lon, plane.lat]);
      if (!at) continue;
      context.save();
      context.translate(at[0], at[1]);
      context.rotate(((plane.heading || 0) * Math.PI) / 180);
      context.beginPath();
      context.moveTo(0, -5); context.lineTo(3.5, 4); context.lineTo(0, 2); context.lineTo(-3.5, 4);
      context.closePath();
      context.fill();
      context.restore();
    }
    drawn = false;
  };
  const close = feed(`/api/topics/${kTopic}/feed`, (kind, data) => {
    if (kind !== 'message' || !data.row || !data.row.value) return;
    const value = data.row.value;
    aircraft.set(data.row.key, { lon: value.lon, lat: value.lat, heading: value.heading });
    fleet.count = aircraft.size;
    fleet.updates += 1;
    fleet.sample = { key: data.row.key, lon: value.lon, lat: value.lat };
    received += 1;
    if (!drawn) {
      drawn = true;
      requestAnimationFrame(draw);
    }
  }, (state) => { root.querySelector('#fleet-state').textContent = state; });
  let last = performance.now();
  const timer = setInterval(async () => {
    const now = performance.now();
    root.querySelector('#fleet-count').textContent = `${aircraft.size} aircraft`;
    root.querySelector('#fleet-rate').textContent =
      `${Math.round((received * 1000) / (now - last))} positions/s`;
    received = 0;
    last = now;
    try {
      const latest = await query(`SELECT count(*) AS n FROM walden_topics.${kTopic}`);
      root.querySelector('#fleet-table').textContent =
        `latest-per-aircraft table: ${escapeHtml(latest.rows[0].n)} rows`;
    } catch (error) {
      root.querySelector('#fleet-table').textContent = error.message;
    }
  }, 1000);
  root.querySelector('#history').onclick = () => {
    localStorage.setItem('walden.sql', kHistoryQuestion);
    location.hash = '#sql';
  };
  draw();
  return () => {
    clearInterval(timer);
    close();
  };
}

// Talks to walden's own HTTP API. Every request carries X-Walden-Client (walden refuses POSTs
// without it) and the token cookie the login set; nothing leaves this origin.
const headers = { 'X-Walden-Client': 'console' };

export class ApiError extends Error {
  constructor(status, text) {
    super(text.trim());
    this.status = status;
  }
}

async function check(response) {
  if (!response.ok) throw new ApiError(response.status, await response.text());
  return response;
}

export async function getJson(path) {
  return (await check(await fetch(path, { headers }))).json();
}

// Runs SQL over the mirror and the history. Returns {columns, rows, preview} where preview is
// the history cost walden reports (X-Walden-History), or '' for mirror-only queries.
export async function query(sql, { dryRun = false, allowFullScan = false } = {}) {
  const params = new URLSearchParams({ format: 'json' });
  if (dryRun) params.set('dry_run', 'true');
  if (allowFullScan) params.set('allow_full_scan', 'true');
  const response = await check(
    await fetch(`/api/query?${params}`, { method: 'POST', headers, body: sql }));
  const preview = response.headers.get('X-Walden-History') || '';
  const text = await response.text();
  if (dryRun) return { columns: [], rows: [], preview: preview || text.trim(), dryRun };
  const rows = text.split('\n').filter((line) => line.length > 0).map((line) => JSON.parse(line));
  const columns = rows.length > 0 ? Object.keys(rows[0]) : [];
  return { columns, rows, preview, dryRun };
}

export async function queryCsv(sql) {
  const response = await check(await fetch('/api/query?format=csv&allow_full_scan=true',
    { method: 'POST', headers, body: sql }));
  return response.blob();
}

export async function login(token) {
  await check(await fetch('/api/login', { method: 'POST', headers, body: token }));
}

// An EventSource that reports each event's parsed data; returns a close function.
export function feed(path, onEvent, onState) {
  const source = new EventSource(path);
  const kinds = ['change', 'message', 'gap', 'dropped'];
  for (const kind of kinds) {
    source.addEventListener(kind, (e) => onEvent(kind, JSON.parse(e.data), e.lastEventId));
  }
  source.onopen = () => onState && onState('live');
  source.onerror = () => onState && onState(source.readyState === 2 ? 'closed' : 'reconnecting');
  return () => source.close();
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function formatBytes(bytes) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

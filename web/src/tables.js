// The table browser: every captured table with its state and counts; one table's schema,
// rows, freshness and its changes live from /api/feed.
import { getJson, query, feed, escapeHtml } from './api.js';

export function renderTables(root, selected) {
  root.innerHTML = `<section class="tables"><div id="list" class="list"></div>
    <div id="detail" class="detail"></div></section>`;
  let close = null;
  const show = async (name) => {
    if (close) close();
    close = await renderTable(root.querySelector('#detail'), name);
  };
  const refresh = async () => {
    const status = await getJson('/api/status');
    const list = root.querySelector('#list');
    list.innerHTML = `<table class="grid"><thead><tr><th>table</th><th>state</th>
      <th>inserts</th><th>updates</th><th>deletes</th></tr></thead><tbody>${
      status.tables.map((t) => `<tr data-table="${escapeHtml(t.table)}" class="link">
        <td>${escapeHtml(t.table)}</td><td><span class="pill ${escapeHtml(t.state)}">${
        escapeHtml(t.state)}</span></td><td>${t.rows.insert}</td><td>${t.rows.update}</td>
        <td>${t.rows.delete}</td></tr>`).join('')}</tbody></table>
      <p class="muted">mirror merged ${escapeHtml(status.mirror.last_merge || 'never')}</p>`;
    list.querySelectorAll('tr[data-table]').forEach((row) => {
      row.onclick = () => { location.hash = `#tables/${encodeURIComponent(row.dataset.table)}`; };
    });
  };
  refresh();
  const timer = setInterval(refresh, 2000);
  if (selected) show(selected);
  return () => {
    clearInterval(timer);
    if (close) close();
  };
}

async function renderTable(box, name) {
  box.innerHTML = `<h2>${escapeHtml(name)}</h2>
    <div class="columns"><div><h3>Schema</h3><div id="schema"></div></div>
    <div><h3>Live changes <span id="feed-state" class="pill">connecting</span></h3>
    <ol id="changes" class="changes"></ol></div></div>
    <h3>Rows (first 100)</h3><div id="rows"></div>`;
  // The displayed name is valid SQL (quoted where needed).
  try {
    const schema = await query(`DESCRIBE ${name}`);
    box.querySelector('#schema').innerHTML = table(schema, ['column_name', 'column_type', 'key']);
    const rows = await query(`SELECT * FROM ${name} LIMIT 100`);
    box.querySelector('#rows').innerHTML = table(rows, rows.columns);
  } catch (error) {
    box.querySelector('#rows').textContent = error.message;
  }
  const list = box.querySelector('#changes');
  return feed(`/api/feed?table=${encodeURIComponent(name)}`, (kind, data) => {
    const item = document.createElement('li');
    item.className = kind;
    item.textContent = kind === 'change'
      ? `${data.commit_time.slice(11, 23)} ${data.op} ${JSON.stringify(data.row || data.before)}`
      : `${kind}: ${JSON.stringify(data)}`;
    list.prepend(item);
    while (list.children.length > 200) list.lastChild.remove();
  }, (state) => { box.querySelector('#feed-state').textContent = state; });
}

function table(answer, columns) {
  return `<div class="grid-wrap"><table class="grid"><thead><tr>${
    columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>${
    answer.rows.map((row) => `<tr>${columns.map((c) => `<td>${
      row[c] === null || row[c] === undefined ? '' : escapeHtml(row[c])}</td>`).join('')}</tr>`)
      .join('')}</tbody></table></div>`;
}

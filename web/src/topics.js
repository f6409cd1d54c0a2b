// Topics: each topic's partitions, messages, bytes and its groups' lag; one topic's
// messages live from /api/topics/<topic>/feed.
import { getJson, feed, escapeHtml, formatBytes } from './api.js';

export function renderTopics(root, selected) {
  root.innerHTML = `<section class="topics"><div id="list"></div><div id="detail"></div></section>`;
  const refresh = async () => {
    const status = await getJson('/api/status');
    const list = root.querySelector('#list');
    if (status.topics.length === 0) {
      list.innerHTML = '<p class="muted">No topics (walden topics init; walden topic create).</p>';
      return;
    }
    list.innerHTML = `<table class="grid"><thead><tr><th>topic</th><th>partitions</th>
      <th>messages</th><th>in PostgreSQL</th><th>archived</th><th>group lag</th></tr></thead>
      <tbody>${status.topics.map((t) => `<tr class="link" data-topic="${escapeHtml(t.topic)}">
        <td>${escapeHtml(t.topic)}</td><td>${t.partitions}</td>
        <td>${t.messages.toLocaleString()}</td><td>${formatBytes(t.hot_bytes)}</td>
        <td>${formatBytes(t.archived_bytes)}</td><td>${Object.entries(t.group_lag || {})
          .map(([g, lag]) => `${escapeHtml(g)}: ${lag}`).join(', ')}</td></tr>`).join('')}
      </tbody></table>`;
    list.querySelectorAll('tr[data-topic]').forEach((row) => {
      row.onclick = () => { location.hash = `#topics/${encodeURIComponent(row.dataset.topic)}`; };
    });
  };
  refresh();
  const timer = setInterval(refresh, 2000);
  let close = null;
  if (selected) {
    const box = root.querySelector('#detail');
    box.innerHTML = `<h2>${escapeHtml(selected)}</h2><ol id="messages" class="changes"></ol>`;
    const list = box.querySelector('#messages');
    close = feed(`/api/topics/${encodeURIComponent(selected)}/feed`, (kind, data) => {
      const item = document.createElement('li');
      item.textContent = kind === 'message'
        ? `${data.row.partition}/${data.row.offset} ${data.row.key ?? ''} ${JSON.stringify(data.row.value)}`
        : `${kind}: ${JSON.stringify(data)}`;
      list.prepend(item);
      while (list.children.length > 200) list.lastChild.remove();
    });
  }
  return () => {
    clearInterval(timer);
    if (close) close();
  };
}

// The SQL page: an editor over the mirror and the history, the cost preview before any query
// that reads history, and a paged result grid with CSV download.
import { EditorView, basicSetup } from 'codemirror';
import { keymap } from '@codemirror/view';
import { sql as sqlLanguage } from '@codemirror/lang-sql';
import { query, queryCsv, escapeHtml } from './api.js';

const kPageRows = 100;
const kStartSql = 'SELECT table_name, state FROM walden.tables ORDER BY 1';
let lastSql = localStorage.getItem('walden.sql') || kStartSql;

export function readsHistory(text) {
  return /\bhistory\s*\./i.test(text);
}

// `arg`: SQL to show (from the address, `#sql/<sql>`), run at once and again every second
// when it starts with "live:" (the shop demo's revenue per category).
export function renderSql(root, arg = '') {
  const live = arg.startsWith('live:');
  if (arg) lastSql = live ? arg.slice(5) : arg;
  root.innerHTML = `
    <section class="sql">
      <div id="editor" class="editor"></div>
      <div class="toolbar">
        <button id="run" class="primary">Run <kbd>Ctrl+Enter</kbd></button>
        <label><input type="checkbox" id="full-scan"> allow a full history scan</label>
        <label><input type="checkbox" id="live" ${live ? 'checked' : ''}> rerun every second</label>
        <span id="timing" class="muted"></span>
      </div>
      <div id="preview" class="preview" hidden></div>
      <div id="error" class="error" hidden></div>
      <div id="result"></div>
    </section>`;
  const run = () => start(root, editor.state.doc.toString());
  const editor = new EditorView({
    doc: lastSql,
    extensions: [basicSetup, sqlLanguage(), EditorView.lineWrapping,
      keymap.of([{ key: 'Mod-Enter', run: () => { run(); return true; } }])],
    parent: root.querySelector('#editor'),
  });
  root.querySelector('#run').onclick = run;
  // Live: mirror queries only (a history query would bill its scan every second).
  const timer = setInterval(() => {
    const text = editor.state.doc.toString();
    if (root.querySelector('#live').checked && !readsHistory(text)) execute(root, text, false);
  }, 1000);
  if (live) run();
  return () => {
    clearInterval(timer);
    editor.destroy();
  };
}

// A query that reads history shows what it will read and cost first, and runs on a click.
async function start(root, text) {
  lastSql = text;
  localStorage.setItem('walden.sql', text);
  const previewBox = root.querySelector('#preview');
  const allow = root.querySelector('#full-scan').checked;
  hide(root);
  root.querySelector('#result').innerHTML = '';
  if (!readsHistory(text)) return execute(root, text, allow);
  try {
    const planned = await query(text, { dryRun: true, allowFullScan: allow });
    previewBox.hidden = false;
    previewBox.innerHTML = `<b>History cost preview</b><pre>${escapeHtml(planned.preview)}</pre>
      <button id="confirm" class="primary">Run this history query</button>`;
    previewBox.querySelector('#confirm').onclick = () => execute(root, text, allow);
  } catch (error) {
    showError(root, error);
  }
}

async function execute(root, text, allow) {
  const began = performance.now();
  root.querySelector('#timing').textContent = 'running…';
  root.querySelector('#error').hidden = true;
  try {
    const answer = await query(text, { allowFullScan: allow });
    root.querySelector('#timing').textContent =
      `${answer.rows.length} rows in ${Math.round(performance.now() - began)} ms`;
    renderGrid(root.querySelector('#result'), answer, 0, text);
  } catch (error) {
    root.querySelector('#timing').textContent = '';
    showError(root, error);
  }
}

function renderGrid(box, answer, page, text) {
  const pages = Math.max(1, Math.ceil(answer.rows.length / kPageRows));
  const rows = answer.rows.slice(page * kPageRows, (page + 1) * kPageRows);
  const head = answer.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = rows.map((row) => `<tr>${answer.columns.map((c) =>
    row[c] === null ? '<td class="null">NULL</td>' : `<td>${escapeHtml(row[c])}</td>`).join('')}</tr>`)
    .join('');
  box.innerHTML = `
    <div class="toolbar">
      <button id="prev" ${page === 0 ? 'disabled' : ''}>‹ Prev</button>
      <span>page ${page + 1} of ${pages}</span>
      <button id="next" ${page + 1 >= pages ? 'disabled' : ''}>Next ›</button>
      <button id="csv">Download CSV</button>
    </div>
    <div class="grid-wrap"><table class="grid"><thead><tr>${head}</tr></thead>
    <tbody>${body}</tbody></table></div>`;
  box.querySelector('#prev').onclick = () => renderGrid(box, answer, page - 1, text);
  box.querySelector('#next').onclick = () => renderGrid(box, answer, page + 1, text);
  box.querySelector('#csv').onclick = async () => {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(await queryCsv(text));
    link.download = 'walden-query.csv';
    link.click();
  };
}

function hide(root) {
  root.querySelector('#preview').hidden = true;
  root.querySelector('#error').hidden = true;
}

function showError(root, error) {
  const box = root.querySelector('#error');
  box.hidden = false;
  box.textContent = error.message;
}

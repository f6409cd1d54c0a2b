// The console's entry point: a hash router over its pages, the login form when walden asks
// for a token, and the health pill.
import { renderSql } from './sql.js';
import { renderTables } from './tables.js';
import { renderStatus } from './status.js';
import { renderTopics } from './topics.js';
import { renderMap } from './map.js';
import { getJson, login, ApiError } from './api.js';

const pages = {
  sql: renderSql, tables: renderTables, status: renderStatus, topics: renderTopics, map: renderMap,
};
let leave = null;

async function route() {
  const [name, ...rest] = (location.hash.slice(1) || 'sql').split('/');
  const page = pages[name] ? name : 'sql';
  if (leave) leave();
  leave = null;
  document.querySelectorAll('nav a').forEach((a) => {
    a.classList.toggle('active', a.dataset.page === page);
  });
  const root = document.getElementById('page');
  try {
    await getJson('/api/status');  // asks for the token when walden needs one
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return renderLogin(root);
  }
  leave = pages[page](root, rest.length ? decodeURIComponent(rest.join('/')) : '');
}

function renderLogin(root) {
  root.innerHTML = `<form id="login" class="login"><h2>This walden asks for its token</h2>
    <input type="password" id="token" placeholder="server.token" autocomplete="current-password">
    <button class="primary">Sign in</button><p id="login-error" class="error" hidden></p></form>`;
  root.querySelector('#login').onsubmit = async (event) => {
    event.preventDefault();
    try {
      await login(root.querySelector('#token').value);
      route();
    } catch (error) {
      const box = root.querySelector('#login-error');
      box.hidden = false;
      box.textContent = error.message;
    }
  };
}

async function health() {
  const pill = document.getElementById('health');
  try {
    const response = await fetch('/readyz');
    pill.textContent = (await response.text()).trim();
    pill.className = `pill ${response.ok ? 'streaming' : 'resync-required'}`;
  } catch {
    pill.textContent = 'walden unreachable';
    pill.className = 'pill resync-required';
  }
}

window.addEventListener('hashchange', route);
route();
health();
setInterval(health, 2000);

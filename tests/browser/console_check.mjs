// Drives walden's console in Debian's headless Chromium (puppeteer-core), as a user would,
// for tests/integration/console_browser_test.cc. Usage:
//   node console_check.mjs console <base URL> <artifact dir>
//   node console_check.mjs map <base URL> <artifact dir>
// Any JavaScript error, failed request or HTTP error response fails the run. Prints one JSON
// line per check ({"check": ..., ...figures}) and exits non-zero on the first failure.
// `console` mode writes <artifact dir>/feed-ready when the table's live feed is connected and
// waits for the test to commit a row (id 4242) then.
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const [mode, base, artifacts] = process.argv.slice(2);
const failures = [];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const report = (check, figures = {}) => console.log(JSON.stringify({ check, ...figures }));

async function waitFor(page, fn, timeout, ...args) {
  return page.waitForFunction(fn, { timeout, polling: 20 }, ...args);
}

async function screenshot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

async function checkConsole(page) {
  // A mirror query: its rows in the grid.
  await page.goto(`${base}/#sql`);
  await page.waitForSelector('.cm-content');
  await page.evaluate(() => localStorage.clear());
  await page.click('.cm-content');
  await page.keyboard.down('Control');
  await page.keyboard.press('a');
  await page.keyboard.up('Control');
  await page.keyboard.type('SELECT id, note FROM public.items ORDER BY id');
  await page.click('#run');
  await waitFor(page, () => document.querySelectorAll('#result tbody tr').length === 3, 10000);
  const cells = await page.$$eval('#result tbody td', (tds) => tds.map((td) => td.textContent));
  if (cells.join(',') !== '1,first,2,second,3,"quoted"') throw new Error(`grid: ${cells}`);
  report('sql rows', { cells });
  await screenshot(page, 'sql');
  // A history query: the cost preview comes first, the rows only after the click.
  await page.click('.cm-content');
  await page.keyboard.down('Control');
  await page.keyboard.press('a');
  await page.keyboard.up('Control');
  await page.keyboard.type(
    "SELECT _walden_op AS op, count(*) AS n FROM history.public.items WHERE _walden_commit_ts > now() - INTERVAL 1 HOUR GROUP BY ALL ORDER BY 1");
  await page.click('#run');
  await waitFor(page, () => !document.querySelector('#preview').hidden, 10000);
  const preview = await page.$eval('#preview pre', (pre) => pre.textContent);
  const gridBefore = await page.$$eval('#result tbody tr', (rows) => rows.length);
  if (!/1 of 1 files/.test(preview) || gridBefore !== 0) {
    throw new Error(`preview: ${preview}, ${gridBefore} rows before it ran`);
  }
  await screenshot(page, 'sql-history-preview');
  await page.click('#confirm');
  // The three rows the initial load read ('r').
  await waitFor(page, () => [...document.querySelectorAll('#result td')].map((td) => td.textContent)
    .join(',') === 'r,3', 10000);
  report('history preview first', { preview });
  // The table's page: schema, rows, and a row committed now arrives on its live feed.
  await page.goto(`${base}/#tables/public.items`);
  await waitFor(page, () => document.querySelector('#feed-state')?.textContent === 'live', 10000);
  await waitFor(page, () => document.querySelectorAll('#rows tbody tr').length === 3, 10000);
  const ready = Date.now();
  fs.writeFileSync(path.join(artifacts, 'feed-ready'), '');
  await waitFor(page, () => [...document.querySelectorAll('#changes li')]
    .some((li) => li.textContent.includes('"id":4242')), 10000);
  const feedMs = Date.now() - ready;
  report('live feed', { ms: feedMs });
  if (feedMs > 1000) throw new Error(`the committed row took ${feedMs} ms to appear`);
  await screenshot(page, 'table');
  // Status: its charts are drawn.
  await page.goto(`${base}/#status`);
  await waitFor(page, () => document.querySelectorAll('.uplot canvas').length === 3, 10000);
  await sleep(2500);
  await screenshot(page, 'status');
  report('status charts');
  await page.goto(`${base}/#topics`);
  await page.waitForSelector('#list p, #list table');
  await screenshot(page, 'topics');
}

async function checkMap(page) {
  await page.goto(`${base}/#map`);
  await waitFor(page, () => window.__fleet && window.__fleet.count >= 500, 30000);
  const before = await page.evaluate(() => JSON.stringify(window.__fleet.sample));
  const first = JSON.parse(before);
  await waitFor(page, (key, lon, lat) => {
    // The same aircraft, somewhere else.
    const seen = window.__fleet.positions?.get?.(key);
    return seen && (seen.lon !== lon || seen.lat !== lat);
  }, 10000, first.key, first.lon, first.lat);
  const fleet = await page.evaluate(() => ({ count: window.__fleet.count, updates: window.__fleet.updates }));
  report('fleet moves', fleet);
  await sleep(1500);
  await screenshot(page, 'map');
}

const browser = await puppeteer.launch({
  executablePath: process.env.WALDEN_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 860 });
  page.on('pageerror', (error) => failures.push(`JavaScript error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // Pages left while their feed was open cancel it; that is not a failure.
    if (!request.url().includes('/feed')) {
      failures.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
    }
  });
  page.on('response', (response) => {
    if (response.status() >= 400) failures.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  await (mode === 'map' ? checkMap(page) : checkConsole(page));
  if (failures.length > 0) throw new Error(failures.join('\n'));
  report('done');
} catch (error) {
  console.error(`console check failed: ${error.message}`);
  for (const page of await browser.pages()) {
    await page.screenshot({ path: path.join(artifacts, `failed-${mode}.png`) }).catch(() => {});
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}

// Browser test of the demo page (web/) against a real ringroom: Debian's Chromium driven by
// playwright-core (no browser download), two people in one room typing at the same time.
//
//   npm ci && node --test                 (from tests/browser; tests/run.sh browser does this)
//
// Environment: RINGROOM_BIN (default ../../build/ringroom), CHROMIUM (default /usr/bin/chromium),
// RINGROOM_URL (test an already running server instead of starting one; the restart test is
// then skipped). Artifacts (screenshots, server log) go to tests/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build as buildOt } from './vendor-ot.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const webDir = join(root, 'web');
const artifacts = join(root, 'tests', 'artifacts');
mkdirSync(artifacts, { recursive: true });
// the server's op log: private to this test file, kept across the restart test's two servers
const dataDir = mkdtempSync(join(tmpdir(), 'ringroom-browser-data-'));

const BIN = resolve(root, process.env.RINGROOM_BIN || 'build/ringroom');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const external = process.env.RINGROOM_URL;

let base;          // http://127.0.0.1:PORT
let port;
let server = null; // child process
let browser;

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(50);
  }
}

async function startServer() {
  assert.ok(existsSync(BIN), `${BIN} not found: build it first (make build/ringroom)`);
  const log = openSync(join(artifacts, 'browser-ringroom.log'), 'a');
  const child = spawn(BIN, ['--listen', `127.0.0.1:${port}`, '--web-dir', webDir, '--threads', '2', '--data-dir', dataDir],
                      { stdio: ['ignore', log, log], cwd: root });
  child.exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  await waitFor('ringroom /health', async () => {
    if (child.exitCode !== null) throw new Error(`ringroom exited with ${child.exitCode}`);
    const r = await fetch(`${base}/health`);
    return r.status === 200;
  });
  return child;
}

async function stopServer(child) {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 15000);
  const res = await child.exited;
  clearTimeout(t);
  return res;
}

before(async () => {
  if (external) {
    base = external.replace(/\/$/, '');
  } else {
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = await startServer();
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  const res = await stopServer(server);
  // a clean drain exits 0; a sanitizer report or a crash does not (see the server log)
  if (res) assert.deepEqual(res, { code: 0, sig: null }, 'ringroom exit after SIGTERM (tests/artifacts/browser-ringroom.log)');
});

// A person: their own browser context (own storage), one page.
async function person(name, room, color, viewport = { width: 860, height: 600 }) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  // the page picks a random colour per tab; fix it so the screenshot has two distinct ones
  if (color) await context.addInitScript((c) => sessionStorage.setItem('ringroom.color', c), color);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${base}/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}`);
  await page.waitForFunction(() => window.ringroom && window.ringroom.state.joined, null, { timeout: 10000 });
  return { name, context, page, errors };
}

const state = (p) => p.page.evaluate(() => window.ringroom.state);
const editorValue = (p) => p.page.$eval('#editor', (t) => t.value);
const peopleNames = (p) => p.page.$$eval('#participants li .name', (els) => els.map((e) => e.textContent));

async function roomInfo(room) {
  const r = await fetch(`${base}/rooms/${room}`);
  assert.equal(r.status, 200, `GET /rooms/${room}`);
  return r.json();
}

// Both editors hold the same text, nothing is in flight, and it is the server's document.
async function converged(a, b, room) {
  return waitFor('convergence', async () => {
    const [sa, sb] = await Promise.all([state(a), state(b)]);
    if (sa.sync !== 'synced' || sb.sync !== 'synced' || sa.rev !== sb.rev) return false;
    const [va, vb] = await Promise.all([editorValue(a), editorValue(b)]);
    if (va !== vb) return false;
    const info = await roomInfo(room);
    return info.rev === sa.rev && info.doc === va ? { doc: va, rev: sa.rev, info } : false;
  }, 15000);
}

async function caretAt(p, pos) {
  await p.page.click('#editor');
  await p.page.$eval('#editor', (t, at) => { t.focus(); t.setSelectionRange(at, at); }, pos);
}

test('the page and its files are served with the right headers', async () => {
  const cases = [
    ['/', 'text/html; charset=utf-8', 'no-cache'],
    ['/?room=lobby&name=x', 'text/html; charset=utf-8', 'no-cache'],
    ['/index.html', 'text/html; charset=utf-8', 'no-cache'],
    ['/app.js', 'text/javascript; charset=utf-8', 'public, max-age=300'],
    ['/style.css', 'text/css; charset=utf-8', 'public, max-age=300'],
    ['/vendor/ot.js', 'text/javascript; charset=utf-8', 'public, max-age=300'],
    ['/favicon.svg', 'image/svg+xml', 'public, max-age=300'],
  ];
  for (const [path, type, cache] of cases) {
    const r = await fetch(base + path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('content-type'), type, `${path} Content-Type`);
    assert.equal(r.headers.get('cache-control'), cache, `${path} Cache-Control`);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', `${path} nosniff`);
    const etag = r.headers.get('etag');
    assert.match(etag ?? '', /^"[0-9a-f]{16}"$/, `${path} ETag`);
    const body = await r.text();
    const again = await fetch(base + path, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304, `${path} revalidates`);
    if (path === '/vendor/ot.js') assert.equal(body, buildOt(), 'served ot.js is the npm package\'s build');
    if (path.startsWith('/app') || path.startsWith('/style')) assert.equal(body, readFileSync(join(webDir, path.slice(1)), 'utf8'));
  }
  assert.equal((await fetch(`${base}/no-such-file.js`)).status, 404);
});

test('the vendored ot.js is the npm package\'s browser build', () => {
  assert.equal(readFileSync(join(webDir, 'vendor', 'ot.js'), 'utf8'), buildOt(),
               'web/vendor/ot.js is stale: run node tests/browser/vendor-ot.mjs');
});

test('the join form joins the room named in it and offers a copy link', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/?room=formroom`);
  assert.equal(await page.isVisible('#join-form'), true);
  assert.equal(await page.inputValue('#join-room'), 'formroom');
  await page.fill('#join-name', 'Formy');
  await page.click('#join-form button[type=submit]');
  await page.waitForFunction(() => window.ringroom.state.joined);
  assert.equal(new URL(page.url()).searchParams.get('name'), 'Formy');
  assert.equal(await page.textContent('#conn-text'), 'connected');
  await page.click('#copy-link');
  await page.waitForFunction(() => document.getElementById('copy-link').dataset.copied);
  assert.equal(await page.getAttribute('#copy-link', 'data-copied'), `${base}/?room=formroom`);
  await context.close();
});

test('two people edit, chat and leave; both converge on the server\'s document', async () => {
  const room = 'browser-' + Math.random().toString(36).slice(2, 8);
  const ada = await person('Ada', room, '#d6259f');
  const bob = await person('Bob', room, '#0f9bb0');

  // presence: each sees both
  await waitFor('both listed', async () => (await peopleNames(ada)).length === 2 && (await peopleNames(bob)).length === 2);
  assert.deepEqual((await peopleNames(ada)).sort(), ['Ada', 'Bob']);
  assert.deepEqual((await peopleNames(bob)).sort(), ['Ada', 'Bob']);
  assert.equal(await ada.page.getAttribute('#conn', 'data-state'), 'connected');

  // 1. a skeleton, then both type at once in different places: the result is exact
  await caretAt(ada, 0);
  await ada.page.keyboard.type('[A]\n[B]\n');
  let c = await converged(ada, bob, room);
  assert.equal(c.doc, '[A]\n[B]\n');

  const aText = ' Ada: 😀 e\u0301 naïve — 漢字 ';
  const bText = ' Bob: 👍🏽 cafe\u0301 ∑ 😀😀 ';
  await caretAt(ada, 3);
  await caretAt(bob, 7);
  await Promise.all([
    ada.page.keyboard.type(aText, { delay: 12 }),
    (async () => {
      await bob.page.keyboard.type('xyz', { delay: 12 });
      for (let i = 0; i < 3; i++) await bob.page.keyboard.press('Backspace');
      await bob.page.keyboard.type(bText, { delay: 12 });
    })(),
  ]);
  c = await converged(ada, bob, room);
  assert.equal(c.doc, `[A]${aText}\n[B]${bText}\n`);

  // 2. both at the same spot at once (ties, deletions of surrogate pairs): only convergence is
  //    predictable; every code unit must still form valid UTF-16
  await caretAt(ada, 0);
  await caretAt(bob, 0);
  await Promise.all([
    ada.page.keyboard.type('😀a😀e\u0301', { delay: 7 }),
    (async () => {
      await bob.page.keyboard.type('b😀o\u0301b', { delay: 9 });
      await bob.page.keyboard.press('Backspace');
      await bob.page.keyboard.press('Backspace');
    })(),
  ]);
  c = await converged(ada, bob, room);
  assert.equal(c.doc, c.doc.toWellFormed ? c.doc.toWellFormed() : c.doc, 'no lone surrogates');
  assert.ok(c.doc.endsWith(`[A]${aText}\n[B]${bText}\n`), 'the earlier text is intact');
  assert.equal(c.info.room, room);

  // an edit that changes only the low half of a surrogate pair (😀 U+1F600 -> 😁 U+1F601, both
  // \uD83D-led) must go out as a whole-character replacement, never as a lone surrogate
  const before = c.doc;
  await ada.page.$eval('#editor', (t) => {
    t.value = t.value.replace('\u{1F600}', '\u{1F601}');
    t.dispatchEvent(new InputEvent('input', { inputType: 'insertReplacementText' }));
  });
  c = await converged(ada, bob, room);
  assert.equal(c.doc, before.replace('\u{1F600}', '\u{1F601}'));

  // remote cursors: Bob selects a word; Ada sees his caret, tagged with his name, in his colour
  const at = c.doc.indexOf('Bob:');
  await bob.page.$eval('#editor', (t, [s, e]) => { t.focus(); t.setSelectionRange(s, e); }, [at, at + 4]);
  await bob.page.keyboard.press('Shift+ArrowRight');
  const bobSelf = (await state(bob)).self;
  await waitFor('Bob\'s cursor at Ada', async () => {
    const tags = await ada.page.$$eval('.rcaret .rtag', (els) => els.map((e) => e.textContent));
    const seen = (await state(ada)).cursors.find((x) => x.id === String(bobSelf));
    return tags.includes('Bob') && seen?.pos === at + 5;
  });
  assert.equal(await ada.page.$eval(`.rcaret[data-participant="${bobSelf}"] .rtag`, (e) => e.textContent), 'Bob');
  await waitFor('Ada\'s cursor at Bob', async () => (await bob.page.$$eval('.rcaret .rtag', (els) => els.map((e) => e.textContent))).includes('Ada'));

  // 3. chat, sender included
  await ada.page.fill('#chat-input', 'hello from Ada 😀');
  await ada.page.press('#chat-input', 'Enter');
  await bob.page.fill('#chat-input', 'hi Ada, Bob here');
  await bob.page.click('#chat-send');
  for (const p of [ada, bob]) {
    await waitFor(`chat at ${p.name}`, async () => {
      const items = await p.page.$$eval('#chat-log li:not(.pending)', (els) => els.map((e) =>
        [e.querySelector('.who').textContent, e.querySelector('.text').textContent]));
      const has = (who, text) => items.some(([w, t]) => w === who && t === text);
      return has('Ada', 'hello from Ada 😀') && has('Bob', 'hi Ada, Bob here');
    });
  }

  // screenshot: both pages side by side, each showing the other's selection
  const w = c.doc.indexOf('naïve');
  await ada.page.$eval('#editor', (t, [s, e]) => { t.focus(); t.setSelectionRange(s, e); }, [w, w + 5]);
  await waitFor('Ada\'s selection at Bob', async () =>
    (await state(bob)).cursors.some((x) => x.pos === w + 5));
  await ada.page.$eval('#editor', (t) => t.blur());
  await sleep(150);
  const shots = await Promise.all([ada.page.screenshot(), bob.page.screenshot()]);
  const sheet = await browser.newPage({ viewport: { width: 1760, height: 620 }, deviceScaleFactor: 1 });
  await sheet.setContent(`<body style="margin:0;background:#98a2b3;display:flex;gap:20px;padding:10px">
    ${shots.map((b) => `<img src="data:image/png;base64,${b.toString('base64')}">`).join('')}</body>`);
  await sheet.screenshot({ path: join(artifacts, 'two-pages.png') });
  await sheet.close();

  // 4. Bob leaves: Ada's list shows only her, and Bob's cursor is gone
  await bob.context.close();
  await waitFor('Bob gone from Ada\'s list', async () => JSON.stringify(await peopleNames(ada)) === '["Ada"]');
  assert.equal(await ada.page.$$eval('.rcaret', (els) => els.length), 0);
  assert.equal((await roomInfo(room)).participants.length, 1);

  assert.deepEqual(ada.errors, [], 'no errors in Ada\'s console');
  assert.deepEqual(bob.errors, [], 'no errors in Bob\'s console');
  await ada.context.close();
});

test('after the server restarts the page reconnects and re-joins', { skip: external ? 'RINGROOM_URL given' : false }, async () => {
  const room = 'restart-' + Math.random().toString(36).slice(2, 8);
  const ada = await person('Ada', room);
  await caretAt(ada, 0);
  await ada.page.keyboard.type('before restart ');
  await ada.page.waitForFunction(() => window.ringroom.state.sync === 'synced');

  assert.deepEqual(await stopServer(server), { code: 0, sig: null }, 'ringroom drains and exits 0');
  await ada.page.waitForFunction(() => document.getElementById('conn').dataset.state === 'reconnecting', null, { timeout: 10000 });
  assert.match(await ada.page.textContent('#conn-text'), /reconnecting/);
  assert.equal(await ada.page.isDisabled('#editor'), true, 'read-only while offline');

  server = await startServer();
  await ada.page.waitForFunction(() => window.ringroom.state.joined, null, { timeout: 20000 });
  assert.equal(await ada.page.textContent('#conn-text'), 'connected');
  // whatever the server kept (it may or may not persist documents), the page shows exactly it
  const info = await roomInfo(room);
  assert.equal(await editorValue(ada), info.doc);
  assert.equal((await state(ada)).rev, info.rev);
  await ada.page.keyboard.type('after');
  await waitFor('edit after restart reaches the server', async () => (await roomInfo(room)).doc === (await editorValue(ada)));
  await ada.context.close();
});

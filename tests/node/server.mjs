// server.mjs: start the real ringroom binary for a node test, and stop it.
//
//   const srv = await startServer(['--threads', '2']);
//   new WebSocket(srv.wsUrl('/echo')); await fetch(srv.url('/health'));
//   await srv.stop();            // SIGTERM; throws unless ringroom exits 0 in time
//
// The binary is $RINGROOM_BIN (default ../../build/ringroom relative to this directory). It
// listens on a free 127.0.0.1 port; startServer resolves once GET /health answers 200. Output
// goes to tests/artifacts/logs/node-<port>.log; stop() also fails on a sanitizer report there.
// Each server gets its own empty op log directory (RINGROOM_DATA_DIR), removed by stop().
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
  'UndefinedBehaviorSanitizer', 'SUMMARY: AddressSanitizer'];
const live = new Set();

export function binary() {
  const bin = process.env.RINGROOM_BIN
    ? path.resolve(process.cwd(), process.env.RINGROOM_BIN)
    : path.resolve(HERE, '..', '..', 'build', 'ringroom');
  if (!fs.existsSync(bin)) throw new Error(`${bin} not built (run ./build.sh build)`);
  return bin;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function healthy(port) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

export async function startServer(args = [], { startTimeoutMs = 15000, env = {} } = {}) {
  const bin = binary();
  // A port picked free can be taken by someone else before ringroom binds it: retry a few times.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const logDir = path.join(ROOT, 'tests', 'artifacts', 'logs');
    fs.mkdirSync(logDir, { recursive: true });
    const logPath = path.join(logDir, `node-${port}.log`);
    const log = fs.openSync(logPath, 'w');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringroom-node-'));
    const child = spawn(bin, ['--listen', `127.0.0.1:${port}`, ...args], {
      cwd: ROOT,
      stdio: ['ignore', log, log],
      env: {
        ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:halt_on_error=1',
        UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
        ...process.env,
        RINGROOM_DATA_DIR: dataDir,
        ...env,
      },
    });
    fs.closeSync(log);
    let exited = null;
    const exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        exited = { code, signal };
        live.delete(child);
        resolve(exited);
      });
    });
    live.add(child);
    const output = () => { try { return fs.readFileSync(logPath, 'utf8'); } catch { return ''; } };

    const deadline = Date.now() + startTimeoutMs;
    let up = false;
    while (Date.now() < deadline && !exited) {
      if (await healthy(port)) { up = true; break; }
      await sleep(50);
    }
    if (!up) {
      if (!exited) { child.kill('SIGKILL'); await exitPromise; }
      fs.rmSync(dataDir, { recursive: true, force: true });
      const out = output();
      if (attempt < 2 && /Address already in use/.test(out)) continue;
      throw new Error(`ringroom did not answer /health within ${startTimeoutMs} ms ` +
                      `(exit ${JSON.stringify(exited)}):\n${out.slice(-3000)}`);
    }

    let stopped = null;
    return {
      port,
      pid: child.pid,
      logPath,
      dataDir,
      output,
      url: (p = '/') => `http://127.0.0.1:${port}${p}`,
      wsUrl: (p = '/ws') => `ws://127.0.0.1:${port}${p}`,
      exited: () => exited,
      // SIGTERM, wait, and insist on exit code 0 and a clean log.
      stop(timeoutMs = 20000) {
        stopped ??= (async () => {
          if (!exited) child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
          const res = await exitPromise;
          clearTimeout(t);
          fs.rmSync(dataDir, { recursive: true, force: true });
          const out = output();
          const marker = SANITIZER_MARKERS.find((m) => out.includes(m));
          if (marker) throw new Error(`sanitizer report in ringroom output:\n${out.slice(-6000)}`);
          if (res.code !== 0) {
            throw new Error(`ringroom exited with ${JSON.stringify(res)} after SIGTERM, expected 0:\n${out.slice(-3000)}`);
          }
          return res.code;
        })();
        return stopped;
      },
    };
  }
}

// Never leave a server behind, whatever happens to the test process.
process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });

// Runs {{name}}.wasm (build it first: npm run build) on a throwaway duro
// server: pushes it, starts the workflow, signals it and checks the result.
//
// Needs `duro` on PATH, or its path in DURO_BIN. Run: npm test
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

const COMPONENT = new URL('./{{name}}.wasm', import.meta.url);

/** `duro serve` on a fresh SQLite database and a free port. */
class Server {
  static async start() {
    const dir = mkdtempSync(join(tmpdir(), 'duro-test-'));
    const logPath = join(dir, 'duro.log');
    const args = ['serve', '--database', `sqlite://${dir}/duro.db`, '--listen', '127.0.0.1:0', '--no-compile-cache'];
    // SpiderMonkey makes a large component: give its compilation time.
    args.push('--compile-timeout-ms', '300000', '--request-timeout-ms', '300000');
    const logFile = openSync(logPath, 'w');
    const child = spawn(process.env.DURO_BIN ?? 'duro', args, { stdio: ['ignore', 'ignore', logFile] });
    closeSync(logFile);
    const server = new Server(dir, child);
    const deadline = Date.now() + 60_000;
    // The server logs the address it bound: `duro listening address=...`.
    let address;
    while (!(address = readFileSync(logPath, 'utf8').match(/address=(\S+)/))) {
      if (!server.running() || Date.now() > deadline) {
        const log = readFileSync(logPath, 'utf8');
        await server.stop();
        throw new Error(`duro serve did not start:\n${log}`);
      }
      await sleep(100);
    }
    server.url = `http://${address[1]}`;
    return server;
  }

  constructor(dir, child) {
    this.dir = dir;
    this.child = child;
  }

  running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The JSON answer to an API request; an error status throws. */
  async call(method, path, body, contentType = 'application/json') {
    if (body !== undefined && !(body instanceof Uint8Array)) {
      body = JSON.stringify(body);
    }
    const response = await fetch(this.url + path, {
      method,
      body,
      headers: { 'content-type': contentType },
      signal: AbortSignal.timeout(330_000),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text);
  }

  async stop() {
    if (this.running()) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let server;

before(async () => {
  assert.ok(existsSync(COMPONENT), `${COMPONENT.pathname} is missing: build it first with npm run build`);
  server = await Server.start();
  await server.call('POST', '/v1/components?name={{name}}', readFileSync(COMPONENT), 'application/wasm');
});

after(() => server?.stop());

const start = (id, input) => server.call('POST', '/v1/workflows', { component: '{{name}}', input, id });

async function result(id) {
  const result = await server.call('GET', `/v1/workflows/${id}/result?wait=60`);
  assert.equal(result.status, 'completed', JSON.stringify(result));
  return result.output;
}

test('a greeting before the timeout wins', async () => {
  await start('greeted', { name: 'Ada', timeout_s: 3600 });
  const event = await server.call('GET', '/v1/workflows/greeted/events/status?wait=60');
  assert.equal(event.value, 'waiting');
  await server.call('POST', '/v1/workflows/greeted/signals/greet', 'Hello');
  assert.deepEqual(await result('greeted'), { message: 'Hello, Ada!', timed_out: false });
});

test('without a greeting it times out', async () => {
  await start('ignored', { name: 'Ada', timeout_s: 1 });
  assert.deepEqual(await result('ignored'), { message: 'No greeting for Ada', timed_out: true });
});

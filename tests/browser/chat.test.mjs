// The chat page of `switchboard serve` (crates/hub/assets/chat/) in a real browser: Debian's
// chromium driven by playwright-core. Two people chat in one room, then the server restarts
// under them and their pages come back on their own.
//
// Runs a `switchboard` binary that is already built: SWITCHBOARD_BIN, default
// target/debug/switchboard. CHROMIUM overrides /usr/bin/chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.SWITCHBOARD_BIN
  ? path.resolve(process.env.SWITCHBOARD_BIN)
  : path.join(ROOT, 'target/debug/switchboard');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const START_MS = 10_000;      // the server prints its address
const STOP_MS = 5_000;        // the server exits after SIGTERM, or gets SIGKILL
const STEP_MS = 15_000;       // any one thing a page should show
const RECONNECT_MS = 30_000;  // pages back after a restart: the page's backoff grows to 10 s
const TEST_MS = 120_000;

const servers = new Set();
let browser;
let server;
const pageErrors = [];

// Whatever happens, no server outlives the test run.
process.on('exit', () => {
  for (const { child } of servers) child.kill('SIGKILL');
});

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Starts `switchboard serve --listen <listen>` and waits for the line
// "switchboard serve: listening on http://127.0.0.1:PORT".
async function startServer(listen) {
  const child = spawn(BIN, ['serve', '--listen', listen], { stdio: ['ignore', 'pipe', 'pipe'] });
  const server = { child, url: '', output: [] };
  servers.add(server);
  child.once('exit', () => servers.delete(server));
  child.stderr.setEncoding('utf8').on('data', (chunk) => server.output.push(chunk));
  const listening = new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      server.output.push(`${line}\n`);
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`exited (${code ?? signal}) before listening`)));
  });
  try {
    server.url = await withTimeout(listening, START_MS, `${BIN} serve --listen ${listen}`);
    return server;
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${error.message}\nserver output:\n${server.output.join('')}`);
  }
}

// The port may still be held for a moment by the process that just exited.
async function restartServer(listen) {
  const deadline = Date.now() + START_MS;
  for (;;) {
    try {
      return await startServer(listen);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function stopServer({ child }) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
  await exited;
  clearTimeout(timer);
}

async function newPerson(baseUrl, name, room) {
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${name}: ${error.message}`));
  await page.goto(baseUrl);
  await page.getByTestId('name-input').fill(name);
  await page.getByTestId('room-input').fill(room);
  await page.getByTestId('join-button').click();
  await connected(page);
  return page;
}

function connected(page, timeout = STEP_MS) {
  return page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout });
}

function sees(page, testId, text, timeout = STEP_MS) {
  return page.getByTestId(testId).getByText(text, { exact: true }).first().waitFor({ timeout });
}

async function say(page, text) {
  await page.getByTestId('message-input').fill(text);
  await page.getByTestId('send-button').click();
}

async function authorOf(page, text) {
  return page.getByTestId('messages').locator('li', { hasText: text }).first().locator('.author').textContent();
}

async function chat(alice, bob, suffix) {
  await sees(alice, 'presence', 'Bob');
  await sees(bob, 'presence', 'Alice');
  await say(alice, `hello from Alice ${suffix}`);
  await sees(bob, 'messages', `hello from Alice ${suffix}`);
  await sees(alice, 'messages', `hello from Alice ${suffix}`);
  assert.equal(await authorOf(bob, `hello from Alice ${suffix}`), 'Alice');
  await say(bob, `hi Alice, Bob here ${suffix}`);
  await sees(alice, 'messages', `hi Alice, Bob here ${suffix}`);
  assert.equal(await authorOf(alice, `hi Alice, Bob here ${suffix}`), 'Bob');
}

before(async () => {
  assert.ok(existsSync(BIN), `no switchboard binary at ${BIN}: build it, or set SWITCHBOARD_BIN`);
  assert.ok(existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: START_MS * 3,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  server = await startServer('127.0.0.1:0');
});

after(async () => {
  await browser?.close();
  await Promise.all([...servers].map(stopServer));
});

test('two people in one room see each other and chat', { timeout: TEST_MS }, async () => {
  const room = `browser-${Date.now()}`;
  const alice = await newPerson(server.url, 'Alice', room);
  const bob = await newPerson(server.url, 'Bob', room);
  try {
    await chat(alice, bob, 'one');
    // Each person is listed once, themselves included.
    assert.equal(await alice.getByTestId('presence').locator('li').count(), 2);
    assert.deepEqual(pageErrors, []);
  } finally {
    await alice.context().close();
    await bob.context().close();
  }
});

test('the pages reconnect after a server restart and chat again', { timeout: TEST_MS }, async () => {
  const room = `restart-${Date.now()}`;
  const alice = await newPerson(server.url, 'Alice', room);
  const bob = await newPerson(server.url, 'Bob', room);
  try {
    await chat(alice, bob, 'before');
    const { host } = new URL(server.url);
    await stopServer(server);
    for (const page of [alice, bob]) {
      await page.locator('[data-testid="status"]:not([data-state="connected"])').waitFor();
    }
    server = await restartServer(host);
    await Promise.all([connected(alice, RECONNECT_MS), connected(bob, RECONNECT_MS)]);
    // History was in memory: the old position cannot be recovered, and the pages say so.
    for (const page of [alice, bob]) {
      await page.getByTestId('notice').filter({ hasText: 'history reloaded' }).first().waitFor();
    }
    await chat(alice, bob, 'after');
    // What was said before the restart is still on screen, above the notice.
    await sees(alice, 'messages', 'hello from Alice before');
    assert.deepEqual(pageErrors, []);
  } finally {
    await alice.context().close();
    await bob.context().close();
  }
});

// A Node `ws` client: the third-party client our echo server is tested against.
//
// Runs a fixed script against an echo server and prints one JSON line per step
// ({"step": ..., "ok": ...}). Exit status 0 only if every step passed.
//
//   ws_client.mjs URL [--compression deflate|deflate-tight|none] [--expect-extension yes|no]
//                     [--large BYTES] [--close-code C] [--close-reason R]
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const TIMEOUT_MS = 20_000;

/** ws's permessage-deflate options for each --compression (false: neither offered nor accepted). */
const TIGHT = {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  serverMaxWindowBits: 9,
  clientMaxWindowBits: 9,
};
const deflateOptions = (name) => {
  const options = { deflate: true, 'deflate-tight': TIGHT, none: false }[name];
  if (options === undefined) throw new Error(`--compression: deflate, deflate-tight or none`);
  return options;
};

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    compression: { type: 'string', default: 'deflate' },
    'expect-extension': { type: 'string' },
    large: { type: 'string', default: String(4 << 20) },
    'close-code': { type: 'string', default: '4001' },
    'close-reason': { type: 'string', default: 'bye' },
  },
});
const large = Number(args.large);
const closeCode = Number(args['close-code']);

let failed = 0;
const report = (step, ok, fields = {}) => {
  if (!ok) failed += 1;
  process.stdout.write(JSON.stringify({ step, ok, ...fields }) + '\n');
};

/** Resolves with the event's arguments, or rejects after the timeout or on an error. */
const waitFor = (ws, event) =>
  once(ws, event, { signal: AbortSignal.timeout(TIMEOUT_MS) });

/** Received messages, in order, as [data, isBinary], and readers waiting for one. */
const inbox = [];
const readers = [];
const deliver = (data, isBinary) => {
  const reader = readers.shift();
  if (reader) reader([data, isBinary]);
  else inbox.push([data, isBinary]);
};
const nextMessage = () =>
  inbox.length > 0
    ? Promise.resolve(inbox.shift())
    : new Promise((resolve, reject) => {
        readers.push(resolve);
        setTimeout(() => reject(new Error('timed out waiting for a message')), TIMEOUT_MS).unref();
      });

const echo = async (ws, step, message, options = {}) => {
  const binary = Buffer.isBuffer(message);
  if (Array.isArray(message)) {
    message.forEach((piece, i) => ws.send(piece, { fin: i === message.length - 1 }));
  } else {
    ws.send(message, { binary, ...options });
  }
  const expected = Array.isArray(message) ? message.join('') : message;
  const [data, isBinary] = await nextMessage();
  const same = binary
    ? isBinary && Buffer.compare(data, expected) === 0
    : !isBinary && data.toString() === expected;
  report(step, same, { sent: Buffer.byteLength(expected), received: data.length });
};

/** Deterministic incompressible bytes (xorshift32). */
const noise = (length) => {
  const out = Buffer.alloc(length);
  let x = 6455;
  for (let i = 0; i < length; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
};

const run = async () => {
  const ws = new WebSocket(positionals[0], {
    perMessageDeflate: deflateOptions(args.compression),
    maxPayload: 64 << 20,
    handshakeTimeout: TIMEOUT_MS,
  });
  ws.on('message', deliver);
  // Both events may fire in one tick: listen for both before awaiting either.
  const upgraded = waitFor(ws, 'upgrade');
  const opened = waitFor(ws, 'open');
  const [response] = await upgraded;
  await opened;
  const extensions = response.headers['sec-websocket-extensions'] ?? null;
  const negotiated = ws.extensions.includes('permessage-deflate');
  const expected = { yes: true, no: false }[args['expect-extension']] ?? negotiated;
  report('handshake', negotiated === expected, { extensions });

  await echo(ws, 'text', 'héllo, switchboard ☃ 🌍');
  await echo(ws, 'binary', Buffer.from(Array.from({ length: 1024 }, (_, i) => i & 0xff)));
  await echo(ws, 'empty_text', '');
  await echo(ws, 'empty_binary', Buffer.alloc(0));
  // Three frames, each over ws's 1 KiB compression threshold.
  await echo(ws, 'fragmented', ['α'.repeat(700), 'β'.repeat(700) + '-', 'γ'.repeat(700)]);
  const line = 'The quick brown fox jumps over the lazy dog, ünïcödé. ';
  await echo(ws, 'large_text', line.repeat(Math.ceil(large / line.length)).slice(0, large));
  await echo(ws, 'large_binary', noise(large));

  const pong = waitFor(ws, 'pong');
  ws.ping(Buffer.from('their-ping'));
  const [payload] = await pong;
  report('ping', payload.toString() === 'their-ping', { payload: payload.toString() });

  const closed = waitFor(ws, 'close');
  ws.close(closeCode, args['close-reason']);
  const [code, reason] = await closed;
  report('close', code === closeCode, { code, reason: reason.toString() });
};

try {
  await run();
} catch (error) {
  report('error', false, { error: String(error) });
}
process.stdout.write('', () => process.exit(failed ? 1 : 0));

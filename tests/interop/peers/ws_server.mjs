// A Node `ws` echo server: the third-party server our client is tested against.
//
// Serves one connection on 127.0.0.1 (port 0 unless --port), then exits. Prints JSON lines on
// stdout: `listening` (with the port), `connected` (with the Sec-WebSocket-Extensions it
// answered), `pong` when told to ping first, and `closed` (the close code and reason it
// received). Exit status 0 only if every check on its side passed.
//
//   --compression deflate|deflate-tight|none
//                                accept permessage-deflate (deflate-tight: and require no
//                                context takeover both ways and window bits 9)
//   --ping-first PAYLOAD         send a ping, wait for its pong, then send "pong:PAYLOAD"
//   --close-after N              after echoing N data messages, close with
//   --close-code C --close-reason R
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const TIMEOUT_MS = 30_000;

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

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    compression: { type: 'string', default: 'deflate' },
    'ping-first': { type: 'string' },
    'close-after': { type: 'string', default: '0' },
    'close-code': { type: 'string', default: '1000' },
    'close-reason': { type: 'string', default: '' },
  },
});
const closeAfter = Number(args['close-after']);

const report = (fields) => process.stdout.write(JSON.stringify(fields) + '\n');
let ok = true;
const finish = (code) => process.stdout.write('', () => process.exit(code));

const timer = setTimeout(() => {
  report({ event: 'error', error: `no finished connection within ${TIMEOUT_MS} ms` });
  finish(1);
}, TIMEOUT_MS);

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(args.port),
  // ws accepts no extension unless asked to.
  perMessageDeflate: deflateOptions(args.compression),
  maxPayload: 64 << 20,
});
wss.on('listening', () => report({ event: 'listening', port: wss.address().port }));

let answered = null;
wss.on('headers', (headers) => {
  const line = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
  answered = line ? line.slice(line.indexOf(':') + 1).trim() : null;
});

wss.on('connection', (ws, req) => {
  report({
    event: 'connected',
    offered: req.headers['sec-websocket-extensions'] ?? null,
    extensions: answered,
  });
  let echoed = 0;
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
    echoed += 1;
    if (echoed === closeAfter) ws.close(Number(args['close-code']), args['close-reason']);
  });
  ws.on('error', (error) => {
    ok = false;
    report({ event: 'error', error: String(error) });
  });
  ws.on('close', (code, reason) => {
    report({ event: 'closed', code, reason: reason.toString(), echoed });
    clearTimeout(timer);
    wss.close();
    finish(ok ? 0 : 1);
  });
  const payload = args['ping-first'];
  if (payload !== undefined) {
    ws.once('pong', (data) => {
      const same = data.toString() === payload;
      if (!same) ok = false;
      report({ event: 'pong', ok: same, payload: data.toString() });
      ws.send('pong:' + payload);
    });
    ws.ping(Buffer.from(payload));
  }
});

#!/usr/bin/env node
'use strict';
// Node `ws` echo server (Debian's node-ws 8.11).
//   node ws-echo-server.js [--host 127.0.0.1] [--port 0] [--deflate] [--tls-cert F --tls-key F]
// --deflate: perMessageDeflate: true (ws defaults: threshold 1024 bytes,
// context takeover, zlib defaults); otherwise compression is refused.
// ws answers pings and echoes close frames itself; messages arrive reassembled.
const { loadWs, parseArgs, perMessageDeflate, serve, MAX_PAYLOAD } = require('./common');
const { WebSocketServer } = loadWs();

const opts = parseArgs(process.argv, 'ws-echo-server');
const options = { perMessageDeflate: perMessageDeflate(opts), maxPayload: MAX_PAYLOAD };
let wss;
if (opts.tlsCert) {
  // wss://: ws on Node's https server (OpenSSL underneath, as for Eddy).
  const fs = require('fs');
  const server = require('https').createServer({ cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey) });
  wss = new WebSocketServer({ server, ...options });
  server.listen({ host: opts.host, port: opts.port, backlog: 4096 });
} else {
  wss = new WebSocketServer({ host: opts.host, port: opts.port, backlog: 4096, ...options });
}

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => {}); // e.g. maxPayload exceeded; ws closes with 1009 itself
});

serve(wss);

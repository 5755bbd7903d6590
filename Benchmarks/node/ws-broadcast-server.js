#!/usr/bin/env node
'use strict';
// Node `ws` broadcast server, the usual loop-over-clients pattern from the ws README:
// every message any client sends goes to every connected client, sender included.
//   node ws-broadcast-server.js [--host 127.0.0.1] [--port 0] [--deflate]
const { loadWs, parseArgs, perMessageDeflate, serve, MAX_PAYLOAD } = require('./common');
const { WebSocket, WebSocketServer } = loadWs();

const opts = parseArgs(process.argv, 'ws-broadcast-server');
const wss = new WebSocketServer({
  host: opts.host,
  port: opts.port,
  backlog: 4096,
  perMessageDeflate: perMessageDeflate(opts),
  maxPayload: MAX_PAYLOAD,
  // clientTracking defaults to true: wss.clients is the Set we loop over.
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const c of wss.clients) if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});

serve(wss);

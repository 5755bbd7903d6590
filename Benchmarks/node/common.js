'use strict';
// Shared bits of the Node `ws` peers: CLI parsing, locating Debian's node-ws,
// the LISTENING line and signal handling.
//
// Debian's node-ws installs the module at /usr/share/nodejs/ws. Debian's own
// nodejs package searches /usr/share/nodejs by default, but a NodeSource build
// of node (as on this machine) does not, so fall back to the absolute path
// when a plain require('ws') fails (NODE_PATH=/usr/share/nodejs also works).

function loadWs() {
  try {
    return require('ws');
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
    return require('/usr/share/nodejs/ws');
  }
}

function parseArgs(argv, name) {
  const opts = { host: '127.0.0.1', port: 0, deflate: false, windowBits: undefined, memLevel: undefined,
                 tlsCert: undefined, tlsKey: undefined };
  const args = argv.slice(2);
  const usage = (msg) => {
    process.stderr.write(`${name}: ${msg}\nusage: ${name} [--host H] [--port P] [--deflate [--deflate-window-bits 9..15] [--deflate-mem-level 1..9]] [--tls-cert F --tls-key F]\n`);
    process.exit(2);
  };
  while (args.length) {
    let a = args.shift();
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    const next = () => {
      if (v !== undefined) return v;
      if (!args.length) usage(`missing value for ${a}`);
      return args.shift();
    };
    switch (a) {
      case '--host': opts.host = next(); break;
      case '--port': {
        const p = Number(next());
        if (!Number.isInteger(p) || p < 0 || p > 65535) usage('bad --port');
        opts.port = p;
        break;
      }
      case '--deflate': opts.deflate = true; break;
      // wss:// over Node's https (both or neither).
      case '--tls-cert': opts.tlsCert = next(); break;
      case '--tls-key': opts.tlsKey = next(); break;
      case '--no-deflate': opts.deflate = false; break;
      // Not ws defaults: only for like-for-like comparisons (e.g. Eddy's 12 / 5).
      case '--deflate-window-bits': {
        const b = Number(next());
        if (!Number.isInteger(b) || b < 9 || b > 15) usage('bad --deflate-window-bits');
        opts.windowBits = b;
        break;
      }
      case '--deflate-mem-level': {
        const m = Number(next());
        if (!Number.isInteger(m) || m < 1 || m > 9) usage('bad --deflate-mem-level');
        opts.memLevel = m;
        break;
      }
      case '-h': case '--help': usage('help'); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) usage('--tls-cert and --tls-key go together');
  return opts;
}

// The perMessageDeflate option: false, true (= ws defaults), or ws defaults with the
// window / memLevel overridden.
function perMessageDeflate(opts) {
  if (!opts.deflate) return false;
  if (opts.windowBits === undefined && opts.memLevel === undefined) return true;
  const o = {};
  if (opts.windowBits !== undefined) {
    o.serverMaxWindowBits = opts.windowBits; // what we use to compress
    o.clientMaxWindowBits = opts.windowBits; // asked of clients that offer client_max_window_bits
  }
  if (opts.memLevel !== undefined) o.zlibDeflateOptions = { memLevel: opts.memLevel };
  return o;
}

// 1 MiB, like the other peers.
const MAX_PAYLOAD = 1 << 20;

function serve(wss) {
  wss.on('listening', () => {
    // stdout to a pipe or file is synchronous in Node on Linux: this is flushed.
    process.stdout.write(`LISTENING ${wss.address().port}\n`);
  });
  wss.on('error', (err) => {
    process.stderr.write(`server error: ${err.message}\n`);
    process.exit(1);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
}

module.exports = { loadWs, parseArgs, perMessageDeflate, serve, MAX_PAYLOAD };

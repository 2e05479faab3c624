// proof_flood.js — N prover connections each announce a proof of SIZE bytes for an assignment
// that is not theirs and send every byte anyway (issue #11: the server used to buffer all of
// them before checking anything: 8 x 63 MiB took it from 24 to 552 MiB RSS). Prints the
// server's RSS before and at its peak, read from /proc. Loopback only; plain Node, no packages
// (a minimal RFC 6455 client: masked frames, no extensions).
//
//   node loadtest/proof_flood.js PORT PROVER_API_KEY SERVER_PID [CONNECTIONS=8] [MIB=63]
'use strict';
const net = require('net');
const crypto = require('crypto');
const fs = require('fs');

const [port, key, pid] = process.argv.slice(2, 5);
const connections = Number(process.argv[5] || 8);
const mib = Number(process.argv[6] || 63);
if (!port || !key || !pid) {
  console.error('usage: node proof_flood.js PORT PROVER_API_KEY SERVER_PID [CONNECTIONS] [MIB]');
  process.exit(2);
}
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

function frame(opcode, payload) {
  const mask = crypto.randomBytes(4);
  let header;
  if (payload.length < 126) {
    header = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
  } else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([header, mask, masked]);
}

function flood() {
  return new Promise((resolve) => {
    const s = net.connect(Number(port), '127.0.0.1');
    let upgraded = false;
    s.on('data', () => {
      if (upgraded) return;
      upgraded = true;
      const size = mib << 20;
      const header = JSON.stringify({type: 'proof', assignment: 999999999, size,
                                     sha256: 'a'.repeat(64)});
      s.write(frame(0x1, Buffer.from(header)));
      const chunk = Buffer.alloc(1 << 20, 0x78);
      const framed = frame(0x2, chunk);
      let sent = 0;
      const pump = () => {
        while (sent < mib) {
          sent++;
          if (!s.write(framed)) return s.once('drain', pump);
        }
        setTimeout(() => { s.destroy(); resolve(); }, 500);
      };
      pump();
    });
    s.on('error', () => resolve());
    s.write(`GET /v1/prover/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
            `Sec-WebSocket-Version: 13\r\nAuthorization: Bearer ${key}\r\n\r\n`);
  });
}

(async () => {
  const before = rssKiB();
  let peak = before;
  const timer = setInterval(() => { peak = Math.max(peak, rssKiB()); }, 20);
  const t0 = Date.now();
  await Promise.all(Array.from({length: connections}, flood));
  clearInterval(timer);
  peak = Math.max(peak, rssKiB());
  console.log(`proof_flood: ${connections} x ${mib} MiB in ${Date.now() - t0} ms; server RSS ` +
              `${(before / 1024).toFixed(0)} MiB before, ${(peak / 1024).toFixed(0)} MiB at peak`);
})();

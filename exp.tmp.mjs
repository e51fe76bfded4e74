import { readFileSync } from 'node:fs';
import { startHttpCluster } from './test/fixtures/http-cluster-server.mjs';
import autocannon from 'autocannon';
import { mulberry32 } from './bench/lib/common.mjs';
const stat = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8'); const x = f.slice(f.lastIndexOf(')') + 2).split(' '); const st = readFileSync(`/proc/${pid}/status`, 'utf8'); return { u: +x[11], s: +x[12], vol: +/voluntary_ctxt_switches:\s+(\d+)/.exec(st)[1], invol: +/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)[1] }; };
const sum = (pids) => pids.map(stat).reduce((a, b) => ({ u: a.u + b.u, s: a.s + b.s, vol: a.vol + b.vol, invol: a.invol + b.invol }));
const servers = {};
for (const kind of ['shm', 'memory']) servers[kind] = await startHttpCluster({ WORKERS: '2', APP_PREFIX: `exp-${process.pid}-${kind}`, RATE_LIMITER: kind, RATE_POINTS: '100000' });
for (let round = 0; round < 3; round++) for (const kind of ['shm', 'memory']) {
  const s = servers[kind]; const pids = s.pids.http;
  const random = mulberry32(1);
  const a = sum(pids);
  const r = await autocannon({ url: `http://127.0.0.1:${s.port}`, connections: 32, duration: 3, requests: [{ setupRequest: (req) => { req.headers = { 'x-client-id': `c${Math.floor(random() * 10000)}` }; return req; } }] });
  const b = sum(pids); const n = r.requests.total;
  console.log(kind, Math.round(n / 3), 'req/s', 'user µs/req', ((b.u - a.u) * 1e4 / n).toFixed(1), 'sys µs/req', ((b.s - a.s) * 1e4 / n).toFixed(1), 'vol cs/req', ((b.vol - a.vol) / n).toFixed(3), 'invol/req', ((b.invol - a.invol) / n).toFixed(3));
}
for (const s of Object.values(servers)) { s.proc.child.kill('SIGTERM'); await s.proc.done; }

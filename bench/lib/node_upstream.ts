/**
 * A stand-in upstream for when nginx cannot be had: node's http server answering every request
 * with the same 1 KiB body, run as its own process (`node --import tsx bench/lib/node_upstream.ts
 * <port>`). It is slower than nginx, so "direct" figures drop and ratios against it flatter the
 * proxies; the bench says so when it falls back to it.
 */
import http from 'node:http';
import { BODY_1K } from './configs.ts';

const body = Buffer.from(BODY_1K);
const port = Number(process.argv[2]);
http
  .createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  })
  .listen(port, '127.0.0.1');

// @ts-check
/**
 * `node --test`: shows that play.mjs passes a server that honours Range and fails one that
 * does not. The video bytes are taken once from $LAYERS_VIDEO_URL (default: the sandbox
 * gateway's sample-1 fixture) and served again by local node:http servers on 127.0.0.1.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SOURCE =
  process.env.LAYERS_VIDEO_URL ?? 'http://127.0.0.1:18080/sandbox/video-remix/sample-1/video.mp4';
const PLAY = fileURLToPath(new URL('./play.mjs', import.meta.url));

/** @type {Buffer} */
let video;
/** @type {string} */
let base;
/** @type {import('node:http').Server} */
let server;

/**
 * How the test server answers a GET: /ranged honours `bytes=a-b` / `bytes=a-` with 206,
 * /whole ignores Range and sends 200 with everything, anything else is 404.
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 */
function answer(req, res) {
  const type = { 'content-type': 'video/mp4' };
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (req.url === '/ranged' && range) {
    const start = Number(range[1]);
    const end = Math.min(range[2] ? Number(range[2]) : video.length - 1, video.length - 1);
    res.writeHead(206, {
      ...type,
      'accept-ranges': 'bytes',
      'content-range': `bytes ${start}-${end}/${video.length}`,
      'content-length': end - start + 1,
    });
    res.end(video.subarray(start, end + 1));
  } else if (req.url === '/ranged' || req.url === '/whole') {
    res.writeHead(200, { ...type, 'content-length': video.length });
    res.end(video);
  } else {
    res.writeHead(404).end();
  }
}

/**
 * Runs play.mjs on `url`.
 * @param {string} url
 * @returns {Promise<{ code: number, stdout: string, stderr: string }>}
 */
function play(url) {
  return new Promise((resolve) => {
    execFile(process.execPath, [PLAY, url], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  const got = await fetch(SOURCE);
  assert.equal(got.status, 200, `fetching ${SOURCE}`);
  video = Buffer.from(await got.arrayBuffer());
  server = createServer(answer);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  base = `http://127.0.0.1:${address.port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test('passes when Range is answered 206 with Content-Range', async () => {
  const { code, stdout, stderr } = await play(`${base}/ranged`);
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout);
  assert.equal(summary.played, true);
  assert.ok(summary.currentTime > 0.5);
  assert.ok(summary.responses.some((/** @type {{ status: number }} */ r) => r.status === 206));
});

test('fails when a Range request is answered 200 with the whole body', async () => {
  const { code, stdout, stderr } = await play(`${base}/whole`);
  assert.equal(code, 1);
  assert.equal(stdout, '');
  assert.match(stderr, /a Range request was answered 200 with the whole body/);
});

test('fails with the media error when the video is missing', async () => {
  const { code, stderr } = await play(`${base}/missing`);
  assert.equal(code, 1);
  assert.match(stderr, /media element error: code 4/);
});

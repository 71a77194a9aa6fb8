// @ts-check
/**
 * `node play.mjs <video-url>`: proves that a real browser streams a gateway video.
 *
 * Launches Debian's headless Chromium (/usr/bin/chromium, or $CHROMIUM), serves a one-element
 * page from a throwaway node:http server on 127.0.0.1 (so the video is a cross-origin
 * subresource of an ordinary http page, fetched by Chromium's media stack as on any site),
 * records every response for the video URL, plays it muted, seeks near the end, and prints a
 * JSON summary on stdout. Exit 0 only if the video played (currentTime > 0.5, readyState >= 3,
 * no media error), at least one answer was 206 with a Content-Range, and no ranged request was
 * answered 200 with the whole body. Otherwise a message on stderr and exit 1. The browser and
 * the page server are always closed; the whole run is bounded to 45 s.
 */

import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const EXECUTABLE = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** Flags this closed network needs: no sandbox (root), no GPU, no calls home. */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
];
const LAUNCH_TIMEOUT_MS = 15_000;
const PLAY_TIMEOUT_MS = 20_000;
/** Each other step: loading the page, seeking. */
const STEP_TIMEOUT_MS = 5_000;
/** Work is abandoned after this; the process is killed at HARD_LIMIT_MS whatever happens. */
const WORK_LIMIT_MS = 38_000;
const HARD_LIMIT_MS = 45_000;

/**
 * One response the browser got for the video URL.
 * @typedef {{ status: number, range: string | null, contentRange: string | null,
 *             contentLength: string | null }} MediaResponse
 */

/**
 * What the media element reported.
 * @typedef {{ currentTime: number, duration: number, readyState: number,
 *             error: string | null, playError: string | null }} MediaState
 */

/** @param {string} message @returns {never} */
function fail(message) {
  throw new Error(message);
}

/**
 * The page under test: a muted inline video of `src`, nothing else.
 * @param {string} src
 */
function pageHtml(src) {
  const attr = src.replaceAll('&', '&amp;').replaceAll('"', '&quot;');
  return `<!doctype html><meta charset="utf-8"><title>play</title>
<video id="v" muted playsinline preload="auto" src="${attr}"></video>`;
}

/**
 * Serves `html` at / on 127.0.0.1, on a port the system picks.
 * @param {string} html
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
async function servePage(html) {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(undefined));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') fail('page server has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Plays `videoUrl` in Chromium and checks how it was fetched.
 * @param {string} videoUrl
 * @param {(close: () => Promise<void>) => void} onCleanup registers what must be closed
 * @returns {Promise<{ played: true, currentTime: number, duration: number, seekedTo: number | null,
 *                     responses: MediaResponse[] }>}
 */
async function run(videoUrl, onCleanup) {
  const site = await servePage(pageHtml(videoUrl));
  onCleanup(site.close);
  const browser = await chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    args: ARGS,
    timeout: LAUNCH_TIMEOUT_MS,
  });
  onCleanup(() => browser.close().catch(() => {}));
  const context = await browser.newContext();
  const page = await context.newPage();

  /** @type {Promise<MediaResponse>[]} */
  const pending = [];
  page.on('response', (response) => {
    if (response.url() !== videoUrl) return;
    pending.push(
      (async () => ({
        status: response.status(),
        range: (await response.request().headerValue('range')) ?? null,
        contentRange: await response.headerValue('content-range'),
        contentLength: await response.headerValue('content-length'),
      }))(),
    );
  });
  /** @type {string[]} */
  const failedRequests = [];
  page.on('requestfailed', (request) => {
    const why = request.failure()?.errorText ?? 'unknown';
    // Chromium cancels a streaming request when it seeks or has buffered enough.
    if (request.url() === videoUrl && why !== 'net::ERR_ABORTED') failedRequests.push(why);
  });

  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  // Not 'load': a media element delays the load event until its first frame has arrived.
  await page.goto(site.url, { waitUntil: 'domcontentloaded' });

  /**
   * The element's state, with its error as "code N: message".
   * @returns {Promise<MediaState>}
   */
  const state = () =>
    page.$eval('#v', (el) => {
      const v = /** @type {HTMLVideoElement} */ (el);
      return {
        currentTime: v.currentTime,
        duration: v.duration,
        readyState: v.readyState,
        error: v.error ? `code ${v.error.code}: ${v.error.message || '(no message)'}` : null,
        playError: v.dataset.playError ?? null,
      };
    });

  const canPlay = await page.$eval('#v', (el) =>
    /** @type {HTMLVideoElement} */ (el).canPlayType('video/mp4; codecs="avc1.42E01E"'),
  );
  // play() settles only once playback starts, so it is not awaited: a rejection is kept on
  // the element and ends the wait below, like a media error does.
  await page.$eval('#v', (el) => {
    const v = /** @type {HTMLVideoElement} */ (el);
    v.play().catch((/** @type {unknown} */ e) => {
      v.dataset.playError = String(e);
    });
  });
  try {
    await page.waitForFunction(
      () => {
        const v = /** @type {HTMLVideoElement | null} */ (document.getElementById('v'));
        if (!v) return false;
        if (v.error || v.dataset.playError) return true; // stop waiting; reported below
        return v.currentTime > 0.5 && v.readyState >= 3;
      },
      undefined,
      { timeout: PLAY_TIMEOUT_MS, polling: 100 },
    );
  } catch {
    const s = await state();
    fail(`video did not play within ${PLAY_TIMEOUT_MS / 1000} s: ${JSON.stringify(s)}`);
  }
  /** @type {MediaState} */
  const played = await state();
  if (played.error !== null || played.playError !== null) {
    fail(
      `media element error: ${played.error ?? 'none'}; play(): ${played.playError ?? 'resolved'}; ` +
        `canPlayType(H.264)="${canPlay}"`,
    );
  }

  // Seek near the end, so that a player that has not fetched it yet asks for a later range.
  /** @type {number | null} */
  let seekedTo = null;
  if (Number.isFinite(played.duration) && played.duration > 2) {
    seekedTo = await page.$eval(
      '#v',
      (el, limit) => {
        const v = /** @type {HTMLVideoElement} */ (el);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no seeked event')), limit);
          v.addEventListener('seeked', () => {
            clearTimeout(timer);
            resolve(v.currentTime);
          }, { once: true });
          v.currentTime = Math.max(0, v.duration - 1);
        });
      },
      STEP_TIMEOUT_MS,
    );
    const afterSeek = await state();
    if (afterSeek.error !== null) fail(`media element error after seeking: ${afterSeek.error}`);
  }

  const responses = await Promise.all(pending);
  if (failedRequests.length > 0) fail(`video request failed: ${failedRequests.join(', ')}`);
  if (responses.length === 0) fail('the browser made no request for the video URL');
  const ignored = responses.filter((r) => r.range !== null && r.status === 200);
  if (ignored.length > 0) {
    fail(`a Range request was answered 200 with the whole body: ${JSON.stringify(ignored)}`);
  }
  const partial = responses.filter((r) => r.status === 206 && r.contentRange !== null);
  if (partial.length === 0) {
    fail(`no 206 answer with Content-Range among ${JSON.stringify(responses)}`);
  }
  return {
    played: true,
    currentTime: played.currentTime,
    duration: played.duration,
    seekedTo,
    responses,
  };
}

async function main() {
  const videoUrl = process.argv[2];
  if (process.argv.length !== 3 || videoUrl === undefined || !/^https?:\/\//.test(videoUrl)) {
    process.stderr.write('usage: node play.mjs <http(s) video URL>\n');
    return 1;
  }
  const hard = setTimeout(() => {
    process.stderr.write(`play: FAIL: still running after ${HARD_LIMIT_MS / 1000} s, killed\n`);
    process.exit(1); // playwright kills the browser it launched on exit
  }, HARD_LIMIT_MS);
  hard.unref();

  /** @type {(() => Promise<void>)[]} */
  const cleanups = [];
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`gave up after ${WORK_LIMIT_MS / 1000} s`)),
      WORK_LIMIT_MS,
    );
  });
  try {
    const summary = await Promise.race([
      run(videoUrl, (close) => cleanups.unshift(close)),
      limit,
    ]);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`play: FAIL: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    clearTimeout(timer);
    for (const close of cleanups) await close(); // browser first, then the page server
  }
}

process.exitCode = await main();

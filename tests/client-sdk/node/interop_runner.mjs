// The interop scenario (tests/client-sdk/interop/) through the Node SDK's
// public API only, plus node's own fetch for the origin's /hits. Appends one
// JSON line per step to FETCHPOOL_OUT; exits 0 whatever the lines say.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';

const require = createRequire(import.meta.url);
const { Client, FetchpoolError, durationMs, poolKey } = require('../../../client-sdk/node/dist/index.js');

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const SDK = process.env.FETCHPOOL_SDK ?? 'node';
const TARGET = env('FETCHPOOL_TARGET');
const ORIGIN = env('FETCHPOOL_ORIGIN');
const OUT = env('FETCHPOOL_OUT');

function report(step, outcome, fields = {}) {
  const line = { sdk: SDK, step, code: outcome.code, reason: outcome.reason, status: outcome.status, ...fields };
  appendFileSync(OUT, `${JSON.stringify(line)}\n`);
}

/** A call's result as the line reports it: OK and the HTTP status, or the error's code and reason. */
async function outcome(promise) {
  try {
    const response = await promise;
    return { code: 'OK', reason: '', status: response.status, response };
  } catch (error) {
    if (error instanceof FetchpoolError) return { code: error.codeName, reason: error.reason, status: 0, error };
    return { code: 'UNKNOWN', reason: '', status: 0, error };
  }
}

function restartFetchpoold() {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', env('FETCHPOOL_RESTART')], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', resolve);
    child.on('error', resolve);
  });
}

async function originHits(key) {
  try {
    const response = await fetch(`${ORIGIN}/hits?key=${encodeURIComponent(key)}`);
    return Number((await response.text()).trim());
  } catch {
    return -1;
  }
}

async function main() {
  const client = new Client(TARGET);

  const getUrl = `${ORIGIN}/status/200`;
  const got = await outcome(client.get(getUrl));
  report('get', got, { pool_key_match: got.response?.pool === poolKey(getUrl) });

  const posted = await outcome(client.fetch({ method: 'POST', url: `${ORIGIN}/echo`, body: 'interop' }));
  report('post', posted, { body: posted.response ? posted.response.body.toString('utf8') : '' });

  report('not_found', await outcome(client.get(`${ORIGIN}/status/404`)));

  const slow = env('FETCHPOOL_SLOW_ORIGIN');
  const first = outcome(client.get(`${slow}/sleep?ms=1500`));
  await sleep(300);
  const waited = await outcome(client.fetch({ url: `${slow}/status/200`, waitTimeout: durationMs(200) }));
  report('wait_timeout', waited, { first_status: (await first).status });

  report('denied', await outcome(client.get(env('FETCHPOOL_DENIED_URL'))));

  const keyUrls = env('FETCHPOOL_KEY_URLS').split(/\s+/).filter(Boolean);
  const mismatches = [];
  for (const url of keyUrls) {
    const result = await outcome(client.get(url));
    const pool = result.response ? result.response.pool : `(${result.code} ${result.reason})`;
    if (pool !== poolKey(url)) mismatches.push(`${url} ${poolKey(url) ?? ''} ${pool}`);
  }
  report('pool_keys', { code: 'OK', reason: '', status: 0 }, { checked: keyUrls.length, mismatches });

  const stream = client.openStream();
  const submitted = Array.from({ length: 100 }, (_, i) =>
    outcome(stream.submit({ method: 'POST', url: `${ORIGIN}/echo`, body: `n${i}` })),
  );
  const answers = await Promise.all(submitted);
  await stream.close().catch(() => {});
  const failed = answers.find((answer) => answer.code !== 'OK');
  report('stream', failed ?? { code: 'OK', reason: '', status: 200 }, {
    ok: answers.filter((answer) => answer.status === 200).length,
    matched: answers.filter((answer, i) => answer.response?.body.toString('utf8') === `n${i}`).length,
  });

  const stats = await outcome(client.stats());
  report('stats', { ...stats, status: 0 }, {
    pool_found: Boolean(stats.response?.pools.some((pool) => pool.host === poolKey(ORIGIN))),
  });

  const tlsTarget = env('FETCHPOOL_TLS_TARGET');
  const caFile = env('FETCHPOOL_CA_FILE');
  for (const [step, token] of [['tls_token', env('FETCHPOOL_TOKEN')], ['tls_bad_token', 'wrong-token']]) {
    let tlsClient;
    const result = await outcome(
      (async () => {
        tlsClient = new Client(tlsTarget, { caFile, token });
        return tlsClient.get(getUrl);
      })(),
    );
    tlsClient?.close();
    report(step, result);
  }

  let mtlsClient;
  const mtls = await outcome(
    (async () => {
      mtlsClient = new Client(env('FETCHPOOL_MTLS_TARGET'), {
        caFile,
        clientCertFile: env('FETCHPOOL_CLIENT_CERT'),
        clientKeyFile: env('FETCHPOOL_CLIENT_KEY'),
      });
      return mtlsClient.get(getUrl);
    })(),
  );
  mtlsClient?.close();
  report('mtls', mtls);

  await restartFetchpoold();
  report('restart_get', await outcome(client.get(getUrl)));

  const key = `${SDK}-${randomUUID()}`;
  const once = outcome(client.fetch({ method: 'POST', url: `${ORIGIN}/count?key=${key}&ms=3000`, body: 'once' }));
  for (const giveUp = Date.now() + 5000; Date.now() < giveUp && (await originHits(key)) !== 1; ) await sleep(50);
  await restartFetchpoold();
  const post = await once;
  for (const giveUp = Date.now() + 10_000; Date.now() < giveUp; await sleep(100)) {
    if ((await outcome(client.get(getUrl, { timeoutMs: 1000 }))).code === 'OK') break;
  }
  report('post_not_replayed', post, { origin_hits: await originHits(key) });

  client.close();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`interop runner: ${error.stack ?? error}`);
    process.exit(1);
  },
);

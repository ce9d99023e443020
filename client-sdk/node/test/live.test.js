// Against a real fetchpoold and test origin (tests/client-sdk/node/test.sh
// starts them and sets the FETCHPOOL_* variables).
const test = require('node:test');
const assert = require('node:assert/strict');
const { status } = require('@grpc/grpc-js');
const { Client, FetchpoolError, durationMs, poolKey } = require('../dist/index.js');

const env = process.env;
const live = { skip: env.FETCHPOOL_TARGET ? false : 'FETCHPOOL_TARGET not set (run tests/client-sdk/node/test.sh)' };
const ORIGIN = env.FETCHPOOL_ORIGIN;

let client;
test.before(() => {
  if (env.FETCHPOOL_TARGET) client = new Client(env.FETCHPOOL_TARGET);
});
test.after(() => client?.close());

const rejection = async (promise) => {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof FetchpoolError, String(error));
    return error;
  }
  assert.fail('expected a rejection');
};

test('live: get, post, an upstream 404 is a response', live, async () => {
  const url = `${ORIGIN}/status/200`;
  const got = await client.get(url);
  assert.equal(got.status, 200);
  assert.equal(got.pool, poolKey(url));
  const posted = await client.fetch({ method: 'POST', url: `${ORIGIN}/echo`, body: 'héllo' });
  assert.equal(posted.body.toString('utf8'), 'héllo');
  assert.equal((await client.get(`${ORIGIN}/status/404`)).status, 404);
});

test('live: numeric and odd-case URLs share the pool the SDK computes', live, async () => {
  const port = new URL(ORIGIN).port;
  for (const url of [`http://127.1:${port}/status/200`, `HTTP://2130706433:${port}/x`, `http://0x7f.0.0.1:${port}`]) {
    assert.equal((await client.get(url)).pool, poolKey(url), url);
  }
});

test('live: a refused destination is PERMISSION_DENIED / DESTINATION_DENIED', live, async () => {
  const error = await rejection(client.get('http://169.254.169.254/latest/meta-data'));
  assert.equal(error.code, status.PERMISSION_DENIED);
  assert.equal(error.codeName, 'PERMISSION_DENIED');
  assert.equal(error.reason, 'DESTINATION_DENIED');
  assert.match(error.message, /169\.254\.169\.254/);
});

test('live: a fetch waiting for a connection gets WAIT_TIMEOUT', live, async () => {
  const slow = env.FETCHPOOL_SLOW_ORIGIN;
  const first = client.get(`${slow}/sleep?ms=1200`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const error = await rejection(client.fetch({ url: `${slow}/status/200`, waitTimeout: durationMs(200) }));
  assert.equal(error.code, status.DEADLINE_EXCEEDED);
  assert.equal(error.reason, 'WAIT_TIMEOUT');
  assert.equal((await first).status, 200);
});

test('live: the call deadline and cancellation', live, async () => {
  let error = await rejection(client.get(`${ORIGIN}/sleep?ms=3000`, { timeoutMs: 300 }));
  assert.equal(error.code, status.DEADLINE_EXCEEDED);
  const started = Date.now();
  error = await rejection(client.get(`${ORIGIN}/sleep?ms=3000`, { signal: AbortSignal.timeout(200) }));
  assert.equal(error.code, status.CANCELLED);
  assert.ok(Date.now() - started < 2000);
});

test('live: 100 fetches on one stream, each answer matched', live, async () => {
  const stream = client.openStream();
  const answers = await Promise.all(
    Array.from({ length: 100 }, (_, i) => stream.submit({ method: 'POST', url: `${ORIGIN}/echo`, body: `n${i}` })),
  );
  answers.forEach((answer, i) => {
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString('utf8'), `n${i}`);
  });
  const failed = await rejection(stream.submit({ url: 'http://169.254.169.254/' }));
  assert.equal(failed.reason, 'DESTINATION_DENIED');
  await stream.close();
});

test('live: stats and watchStats show the origin pool', live, async () => {
  await client.get(`${ORIGIN}/status/200`);
  const key = poolKey(ORIGIN);
  assert.ok((await client.stats()).pools.some((pool) => pool.host === key));
  assert.equal((await client.stats(key)).pools.length, 1);
  const controller = new AbortController();
  let snapshots = 0;
  for await (const snapshot of client.watchStats({ intervalMs: 100, host: key, signal: controller.signal })) {
    assert.equal(snapshot.pools[0].host, key);
    if (++snapshots === 2) controller.abort();
  }
  assert.equal(snapshots, 2);
});

test('live: affinity over the target\'s addresses', live, async () => {
  const affine = new Client(env.FETCHPOOL_TARGET, { affinity: 'host' });
  try {
    assert.equal((await affine.get(`${ORIGIN}/status/200`)).status, 200);
    const stream = affine.openStream();
    assert.equal((await stream.submit({ url: `${ORIGIN}/status/204` })).status, 204);
    await stream.close();
  } finally {
    affine.close();
  }
});

test('live: no fetchpoold there is UNAVAILABLE with no reason, within the deadline', live, async () => {
  const absent = new Client('127.0.0.1:1');
  const started = Date.now();
  const error = await rejection(absent.get(`${ORIGIN}/status/200`, { timeoutMs: 1500 }));
  assert.ok([status.UNAVAILABLE, status.DEADLINE_EXCEEDED].includes(error.code), error.codeName);
  assert.equal(error.reason, '');
  assert.ok(Date.now() - started < 1700, `${Date.now() - started} ms`);
  absent.close();
});

const tls = { skip: env.FETCHPOOL_TLS_TARGET ? false : 'FETCHPOOL_TLS_TARGET not set' };

test('live: TLS with a client certificate and a token', tls, async () => {
  const options = {
    caFile: env.FETCHPOOL_CA_FILE,
    clientCertFile: env.FETCHPOOL_CLIENT_CERT,
    clientKeyFile: env.FETCHPOOL_CLIENT_KEY,
  };
  const good = new Client(env.FETCHPOOL_TLS_TARGET, { ...options, token: env.FETCHPOOL_TOKEN });
  const bad = new Client(env.FETCHPOOL_TLS_TARGET, { ...options, token: 'wrong-token' });
  const named = new Client(`localhost:${env.FETCHPOOL_TLS_TARGET.split(':')[1]}`, {
    ...options,
    token: env.FETCHPOOL_TOKEN,
    affinity: 'host',
    lookup: async () => ['127.0.0.1'], // fetchpoold listens on IPv4 only
  });
  try {
    assert.equal((await good.get(`${ORIGIN}/status/200`)).status, 200);
    const error = await rejection(bad.get(`${ORIGIN}/status/200`));
    assert.equal(error.code, status.UNAUTHENTICATED);
    assert.equal(error.reason, 'UNAUTHENTICATED');
    // Per-address channels still check the certificate against "localhost".
    assert.equal((await named.get(`${ORIGIN}/status/200`)).status, 200);
  } finally {
    good.close();
    bad.close();
    named.close();
  }
});

// The client against in-process fake servers: what it sends, when it retries,
// deadlines, cancellation, affinity and the stream wrapper.
const test = require('node:test');
const assert = require('node:assert/strict');
const { status } = require('@grpc/grpc-js');
const { Client, FetchpoolError, Ring, poolKey } = require('../dist/index.js');
const { FakeFetchpool } = require('./fake_fetchpool.js');

let fake;
test.before(async () => {
  fake = await new FakeFetchpool('single').start();
});
test.after(() => fake.stop());

const newClient = (options = {}) => new Client(`127.0.0.1:${fake.port}`, options);
const rejection = async (promise) => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
};

test('every fetch carries its pool key, and the token when set', async () => {
  const client = newClient({ token: 't0k', allowTokenOverPlaintext: true });
  const response = await client.get('http://Example.COM/ok?x=1');
  assert.equal(response.status, 200);
  assert.equal(response.pool, 'http://example.com:80');
  const call = fake.calls.at(-1);
  assert.equal(call.poolKey, 'http://example.com:80');
  assert.equal(call.authorization, 'Bearer t0k');
  assert.equal(call.method, 'GET');
  client.close();
});

test('an unparseable URL goes without the pool key header', async () => {
  const client = newClient();
  await client.fetch({ url: 'http://[bad/ok' }).catch(() => {});
  assert.equal(fake.calls.at(-1).poolKey, undefined);
  client.close();
});

test('a token over plaintext is refused unless allowed', () => {
  assert.throws(() => newClient({ token: 'x' }), /needs TLS/);
});

test('GET is retried after UNAVAILABLE with no reason', async () => {
  const client = newClient();
  const url = 'http://a.example/fail?n=2&code=14&tag=get';
  assert.equal((await client.get(url)).status, 200);
  assert.equal(fake.calls.filter((c) => c.url === url).length, 3);
  client.close();
});

test('POST is never sent twice after UNAVAILABLE with no reason', async () => {
  const client = newClient();
  const url = 'http://a.example/fail?n=2&code=14&tag=post';
  const error = await rejection(client.fetch({ method: 'POST', url, body: 'x' }));
  assert.ok(error instanceof FetchpoolError);
  assert.equal(error.code, status.UNAVAILABLE);
  assert.equal(error.codeName, 'UNAVAILABLE');
  assert.equal(error.reason, '');
  assert.equal(fake.calls.filter((c) => c.url === url).length, 1);
  client.close();
});

test('an idempotent POST is retried after UNAVAILABLE with no reason', async () => {
  const client = newClient();
  const url = 'http://a.example/fail?n=1&code=14&tag=idem';
  assert.equal((await client.fetch({ method: 'POST', url, idempotent: true })).status, 200);
  assert.equal(fake.calls.filter((c) => c.url === url).length, 2);
  client.close();
});

test('POST is retried after SHUTTING_DOWN and QUEUE_FULL', async () => {
  const client = newClient();
  for (const [code, reason] of [[14, 'SHUTTING_DOWN'], [8, 'QUEUE_FULL']]) {
    const url = `http://a.example/fail?n=1&code=${code}&reason=${reason}`;
    assert.equal((await client.fetch({ method: 'POST', url })).status, 200);
    assert.equal(fake.calls.filter((c) => c.url === url).length, 2);
  }
  client.close();
});

test('other reasons are not retried, and arrive as the error', async () => {
  const client = newClient();
  const url = 'http://a.example/fail?n=1&code=14&reason=CONNECTION_RESET';
  const error = await rejection(client.get(url));
  assert.equal(error.reason, 'CONNECTION_RESET');
  assert.match(error.message, /scripted/);
  assert.equal(fake.calls.filter((c) => c.url === url).length, 1);
  client.close();
});

test('at most 5 attempts, then the budget stops retries', async () => {
  const client = newClient();
  const url = 'http://a.example/fail?n=100&code=14&tag=five';
  await rejection(client.get(url));
  assert.equal(fake.calls.filter((c) => c.url === url).length, 5);
  // 5 failures took the bucket from 10 to 5 tokens: no more retries.
  const next = 'http://a.example/fail?n=100&code=14&tag=budget';
  await rejection(client.get(next));
  assert.equal(fake.calls.filter((c) => c.url === next).length, 1);
  client.close();
});

test('retries stay inside the deadline', async () => {
  const client = newClient();
  const url = 'http://a.example/fail?n=100&code=14&tag=deadline';
  const started = Date.now();
  const error = await rejection(client.get(url, { timeoutMs: 300 }));
  assert.equal(error.code, status.UNAVAILABLE);
  assert.ok(Date.now() - started < 300, `${Date.now() - started} ms`);
  assert.ok(fake.calls.filter((c) => c.url === url).length <= 2);
  client.close();
});

test('a call past its deadline fails DEADLINE_EXCEEDED', async () => {
  const client = newClient({ defaultTimeoutMs: 100 });
  const error = await rejection(client.get('http://a.example/slow?ms=1000'));
  assert.equal(error.code, status.DEADLINE_EXCEEDED);
  client.close();
});

test('an AbortSignal cancels the call in flight and a retry waiting to start', async () => {
  const client = newClient();
  let started = Date.now();
  let error = await rejection(client.get('http://a.example/slow?ms=3000', { signal: AbortSignal.timeout(50) }));
  assert.equal(error.code, status.CANCELLED);
  assert.ok(Date.now() - started < 1000);
  started = Date.now();
  const url = 'http://a.example/fail?n=100&code=14&tag=abort';
  error = await rejection(client.get(url, { signal: AbortSignal.timeout(60) }));
  assert.equal(error.code, status.CANCELLED);
  assert.ok(Date.now() - started < 120, `${Date.now() - started} ms`);
  assert.equal(fake.calls.filter((c) => c.url === url).length, 1);
  client.close();
});

test('stats and watchStats', async () => {
  const client = newClient();
  assert.equal((await client.stats()).pools[0].host, 'single');
  const controller = new AbortController();
  const seen = [];
  for await (const snapshot of client.watchStats({ intervalMs: 100, signal: controller.signal })) {
    seen.push(snapshot.poolCount);
    if (seen.length === 3) controller.abort();
  }
  assert.deepEqual(seen, [1, 2, 3]);
  client.close();
});

test('stream: answers matched by id, back-pressure at maxInFlight', async () => {
  const client = newClient();
  const stream = client.openStream({ maxInFlight: 4 });
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, i) => stream.submit({ method: 'POST', url: 'http://a.example/echo', body: `n${i}` })),
  );
  answers.forEach((answer, i) => assert.equal(answer.body.toString(), `n${i}`));
  await stream.close();
  const record = fake.streams.at(-1);
  assert.equal(record.requests, 40);
  assert.ok(record.maxOpen <= 4, `max open ${record.maxOpen}`);
  assert.equal(record.poolKey, 'http://a.example:80');
  client.close();
});

test('stream: a failed fetch rejects with its error; close waits for answers', async () => {
  const client = newClient();
  const stream = client.openStream();
  const failed = stream.submit({ url: 'http://a.example/error-in-stream' });
  const slow = stream.submit({ url: 'http://a.example/slow?ms=200', id: 'mine' });
  const error = await rejection(failed);
  assert.equal(error.reason, 'WAIT_TIMEOUT');
  assert.equal(error.code, status.DEADLINE_EXCEEDED);
  await stream.close();
  assert.equal((await slow).id, 'mine');
  await assert.rejects(stream.submit({ url: 'http://a.example/ok' }), FetchpoolError);
  client.close();
});

test('stream: a broken stream fails every unanswered fetch; the next submit opens a new one', async () => {
  const client = newClient();
  const stream = client.openStream();
  const waiting = stream.submit({ url: 'http://a.example/slow?ms=5000' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const streamsBefore = fake.streams.length;
  const breaking = stream.submit({ url: 'http://a.example/break-stream' });
  for (const pending of [waiting, breaking]) {
    const error = await rejection(pending);
    assert.equal(error.code, status.UNAVAILABLE);
    assert.match(error.message, /scripted break/);
  }
  assert.equal((await stream.submit({ url: 'http://a.example/echo', body: 'again' })).body.toString(), 'again');
  assert.equal(fake.streams.length, streamsBefore + 1);
  await stream.close();
  client.close();
});

test('affinity: each pool key goes to the replica the ring picks, one stream per replica', async () => {
  const first = await new FakeFetchpool('').start('127.0.0.2');
  const replicas = [first];
  for (const host of ['127.0.0.3', '127.0.0.4']) replicas.push(await new FakeFetchpool('').start(host, first.port));
  const members = ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((ip) => `${ip}:${first.port}`);
  replicas.forEach((replica, i) => (replica.name = members[i]));
  const ring = new Ring(members);
  const client = new Client(`fetchpool.test:${first.port}`, {
    affinity: 'host',
    lookup: async () => ['127.0.0.4', '127.0.0.2', '127.0.0.3'],
  });
  try {
    const used = new Set();
    for (let i = 0; i < 30; i++) {
      const url = `http://origin-${i}.example/ok`;
      const response = await client.get(url);
      assert.equal(response.remoteAddress, ring.pick(poolKey(url)), url);
      used.add(response.remoteAddress);
    }
    assert.equal(used.size, 3);
    const stream = client.openStream();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => stream.submit({ url: `http://origin-${i}.example/echo` })),
    );
    answers.forEach((answer, i) => assert.equal(answer.remoteAddress, ring.pick(`http://origin-${i}.example:80`)));
    await stream.close();
    for (const replica of replicas) assert.equal(replica.streams.length, 1, replica.name);
  } finally {
    client.close();
    for (const replica of replicas) replica.stop();
  }
});

const test = require('node:test');
const assert = require('node:assert/strict');
const { status } = require('@grpc/grpc-js');
const { RetryBudget, backoffMs, isReplaySafe, isRetryableFailure, shouldRetry, MAX_ATTEMPTS } =
  require('../dist/index.js');

const GET = { method: 'GET' };
const POST = { method: 'POST' };
const shuttingDown = { code: status.UNAVAILABLE, reason: 'SHUTTING_DOWN' };
const queueFull = { code: status.RESOURCE_EXHAUSTED, reason: 'QUEUE_FULL' };
const transport = { code: status.UNAVAILABLE, reason: '' };

test('replay-safe: GET, HEAD, OPTIONS, empty method, or idempotent', () => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', '', undefined, 'get']) assert.ok(isReplaySafe({ method }), method);
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) assert.ok(!isReplaySafe({ method }), method);
  assert.ok(isReplaySafe({ method: 'POST', idempotent: true }));
});

test('the retry table', () => {
  // SHUTTING_DOWN and QUEUE_FULL: any request, POST too.
  for (const failure of [shuttingDown, queueFull]) {
    assert.ok(shouldRetry(failure, GET));
    assert.ok(shouldRetry(failure, POST));
  }
  // UNAVAILABLE with no reason: only a replay-safe request.
  assert.ok(shouldRetry(transport, GET));
  assert.ok(shouldRetry(transport, { method: 'POST', idempotent: true }));
  assert.ok(!shouldRetry(transport, POST));
  // Anything else: never.
  const others = [
    { code: status.UNAVAILABLE, reason: 'CONNECTION_RESET' },
    { code: status.DEADLINE_EXCEEDED, reason: 'WAIT_TIMEOUT' },
    { code: status.DEADLINE_EXCEEDED, reason: '' },
    { code: status.PERMISSION_DENIED, reason: 'DESTINATION_DENIED' },
    { code: status.INTERNAL, reason: '' },
    { code: status.CANCELLED, reason: '' },
  ];
  for (const failure of others) {
    assert.ok(!shouldRetry(failure, GET), JSON.stringify(failure));
    assert.ok(!isRetryableFailure(failure), JSON.stringify(failure));
  }
  for (const failure of [shuttingDown, queueFull, transport]) assert.ok(isRetryableFailure(failure));
  assert.equal(MAX_ATTEMPTS, 5);
});

test('backoff: uniform in [b/2, b], b = min(250 ms * 2^(n-1), 2 s)', () => {
  const expected = [250, 500, 1000, 2000, 2000, 2000];
  expected.forEach((ceiling, index) => {
    const retry = index + 1;
    assert.equal(backoffMs(retry, () => 0), ceiling / 2);
    assert.equal(backoffMs(retry, () => 0.999999), ceiling / 2 + 0.999999 * (ceiling / 2));
    for (let i = 0; i < 50; i++) {
      const pause = backoffMs(retry);
      assert.ok(pause >= ceiling / 2 && pause <= ceiling, `${retry}: ${pause}`);
    }
  });
});

test('budget: full at 10, a retry only above 5 tokens', () => {
  const budget = new RetryBudget();
  assert.equal(budget.available, 10);
  assert.ok(budget.allowsRetry());
  for (let i = 0; i < 4; i++) budget.recordFailure();
  assert.equal(budget.available, 6);
  assert.ok(budget.allowsRetry());
  budget.recordFailure();
  assert.equal(budget.available, 5);
  assert.ok(!budget.allowsRetry(), 'exactly 5 is not more than 5');
  budget.recordSuccess();
  assert.ok(budget.allowsRetry(), '5.1 allows a retry');
});

test('budget: never below 0, never above 10', () => {
  const budget = new RetryBudget();
  for (let i = 0; i < 30; i++) budget.recordFailure();
  assert.equal(budget.available, 0);
  for (let i = 0; i < 50; i++) budget.recordSuccess();
  assert.ok(Math.abs(budget.available - 5) < 1e-9);
  for (let i = 0; i < 200; i++) budget.recordSuccess();
  assert.equal(budget.available, 10);
});

const test = require('node:test');
const assert = require('node:assert/strict');
const { Ring, memberName } = require('../dist/index.js');
const { parseDnsTarget } = require('../dist/replicas.js');
const { readVectors } = require('./vectors.js');

test('every line of testdata/ring.tsv', () => {
  const vectors = readVectors('ring.tsv');
  assert.ok(vectors.length >= 60);
  const rings = new Map();
  for (const [members, key, expected] of vectors) {
    if (!rings.has(members)) rings.set(members, new Ring(members.split(',')));
    assert.equal(rings.get(members).pick(key), expected, `${members} ${key}`);
  }
});

test('member order does not matter', () => {
  const forward = new Ring(['127.0.0.2:1', '127.0.0.3:1', '127.0.0.4:1']);
  const backward = new Ring(['127.0.0.4:1', '127.0.0.3:1', '127.0.0.2:1']);
  for (let i = 0; i < 200; i++) {
    const key = `http://origin-${i}.example:80`;
    assert.equal(forward.pick(key), backward.pick(key));
  }
});

test('removing one of four members moves only its keys', () => {
  const members = ['10.0.0.1:50051', '10.0.0.2:50051', '10.0.0.3:50051', '10.0.0.4:50051'];
  const full = new Ring(members);
  const less = new Ring(members.slice(0, 3));
  let moved = 0;
  for (let i = 0; i < 1000; i++) {
    const key = `http://origin-${i}.example:80`;
    if (full.pick(key) !== '10.0.0.4:50051') assert.equal(less.pick(key), full.pick(key));
    else moved++;
  }
  assert.ok(moved > 150 && moved < 350, `moved ${moved}`);
});

test('an empty ring picks nothing', () => {
  assert.equal(new Ring([]).pick('http://a:80'), undefined);
});

test('member names bracket IPv6', () => {
  assert.equal(memberName('127.0.0.1', 50051), '127.0.0.1:50051');
  assert.equal(memberName('::1', '50051'), '[::1]:50051');
});

test('DNS targets', () => {
  assert.deepEqual(parseDnsTarget('127.0.0.1:50051'), { host: '127.0.0.1', port: '50051' });
  assert.deepEqual(parseDnsTarget('fetchpoold:50051'), { host: 'fetchpoold', port: '50051' });
  assert.deepEqual(parseDnsTarget('dns:///fp.svc:7'), { host: 'fp.svc', port: '7' });
  assert.deepEqual(parseDnsTarget('dns://8.8.8.8/fp.svc:7'), { host: 'fp.svc', port: '7' });
  assert.deepEqual(parseDnsTarget('[::1]:9'), { host: '::1', port: '9' });
  assert.deepEqual(parseDnsTarget('fetchpoold'), { host: 'fetchpoold', port: '443' });
  assert.equal(parseDnsTarget('unix:/run/fetchpool.sock'), undefined);
});

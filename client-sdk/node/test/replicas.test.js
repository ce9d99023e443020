// AffinityReplicas: resolution, re-resolution and the channels it keeps.
const test = require('node:test');
const assert = require('node:assert/strict');
const { AffinityReplicas } = require('../dist/replicas.js');
const { Ring } = require('../dist/index.js');

function fakeChannels() {
  const opened = [];
  const closed = [];
  const newClient = (address) => {
    opened.push(address);
    return { address, close: () => closed.push(address) };
  };
  return { opened, closed, newClient };
}

test('one channel per resolved address, the ring over them, changes on re-resolution', async () => {
  let addresses = ['10.0.0.2', '10.0.0.1', '::1'];
  const channels = fakeChannels();
  const replicas = new AffinityReplicas('fp.svc', '50051', channels.newClient, async () => addresses);
  try {
    const key = 'http://origin-1.example:80';
    const members = ['10.0.0.1:50051', '10.0.0.2:50051', '[::1]:50051'];
    const picked = await replicas.pick(key);
    assert.equal(picked.member, new Ring(members).pick(key));
    assert.equal(picked.client.address, picked.member);
    assert.deepEqual([...replicas.members], members);
    assert.deepEqual(channels.opened.sort(), members);

    addresses = ['10.0.0.1', '10.0.0.3'];
    replicas.transportFailed();
    await replicas.refresh();
    assert.deepEqual([...replicas.members], ['10.0.0.1:50051', '10.0.0.3:50051']);
    assert.deepEqual(channels.closed.sort(), ['10.0.0.2:50051', '[::1]:50051']);
    assert.equal(channels.opened.filter((a) => a === '10.0.0.1:50051').length, 1, 'kept, not reopened');

    // No key: any replica, in turn.
    const any = new Set();
    for (let i = 0; i < 4; i++) any.add((await replicas.pick(undefined)).member);
    assert.equal(any.size, 2);
  } finally {
    replicas.close();
  }
});

test('a failed lookup keeps the replicas known; none known is UNAVAILABLE', async () => {
  let fail = false;
  const channels = fakeChannels();
  const replicas = new AffinityReplicas('fp.svc', '7', channels.newClient, async () => {
    if (fail) throw new Error('ENOTFOUND fp.svc');
    return ['10.0.0.1'];
  });
  await replicas.refresh();
  fail = true;
  await replicas.refresh();
  assert.equal((await replicas.pick('http://a:80')).member, '10.0.0.1:7');
  replicas.close();

  const nothing = new AffinityReplicas('nowhere.invalid', '7', channels.newClient, async () => {
    throw new Error('ENOTFOUND nowhere.invalid');
  });
  await assert.rejects(nothing.pick('http://a:80'), (error) => error.codeName === 'UNAVAILABLE' && /ENOTFOUND/.test(error.message));
  nothing.close();
});

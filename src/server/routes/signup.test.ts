/**
 * Self sign-up (`--signup open`): `POST /v1/devices` with `signup` makes a new user and enrolls the
 * calling device as its first, without an admin; off by default, refused when enrollment is closed,
 * and the new device reaches only its own user's data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDeviceStore } from '../../device/store/memory.js';
import { FedexDevice } from '../../device/sdk.js';
import { fakeExtractor } from '../../device/testing/fixtures.js';
import { startTestApi, type TestApi } from '../testing/harness.js';

type Err = { error: { code: string; message: string } };
type Enrolled = { device: { id: string; userId: string; name: string }; token: string };

describe('self sign-up', () => {
  let api: TestApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('is off by default: ENROLLMENT_CLOSED, and no user is made', async () => {
    api = await startTestApi();
    const res = await api.anonymous.request<Err>('POST', '/v1/devices', {
      name: 'phone',
      signup: { userName: 'Ann' },
    });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe('ENROLLMENT_CLOSED');
    expect(await api.store.listUsers()).toEqual([]);
  });

  it('is refused when enrollment is closed, even with signup open', async () => {
    api = await startTestApi({ signup: 'open', enrollment: 'closed' });
    const res = await api.anonymous.request<Err>('POST', '/v1/devices', {
      name: 'p',
      signup: { userName: 'Ann' },
    });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe('ENROLLMENT_CLOSED');
  });

  it('makes a new user with this device as its first, reaching only its own data', async () => {
    api = await startTestApi({ signup: 'open' });
    const other = await api.userWithDevice('bob');

    const res = await api.anonymous.request<Enrolled>('POST', '/v1/devices', {
      name: 'ann phone',
      signup: { userName: 'Ann' },
    });
    expect(res.status).toBe(201);
    const { device, token } = res.json;
    expect(device.name).toBe('ann phone');
    expect(device.userId).not.toBe('bob');
    const [user] = await api.store.listUsers(device.userId);
    expect(user.name).toBe('Ann');

    const me = api.as(token);
    expect((await me.request('GET', `/v1/users/${device.userId}/labels`)).status).toBe(200);
    expect((await me.request('GET', `/v1/users/${other.userId}/labels`)).status).toBe(403);
    expect((await me.request('GET', '/v1/users')).status).toBe(403);

    // A second sign-up is a second user, not a way into the first one.
    const again = await api.anonymous.request<Enrolled>('POST', '/v1/devices', {
      name: 'x',
      signup: { userName: 'Ann' },
    });
    expect(again.json.device.userId).not.toBe(device.userId);
  });

  it('refuses signup mixed with a token or a userId, and a malformed signup', async () => {
    api = await startTestApi({ signup: 'open' });
    const mixed = await api.anonymous.request<Err>('POST', '/v1/devices', {
      name: 'p',
      userId: 'bob',
      signup: { userName: 'Ann' },
    });
    expect(mixed.status).toBe(400);
    const bad = await api.anonymous.request<Err>('POST', '/v1/devices', {
      name: 'p',
      signup: { userName: '' },
    });
    expect(bad.status).toBe(400);
    const extra = await api.anonymous.request<Err>('POST', '/v1/devices', {
      name: 'p',
      signup: { userName: 'Ann', userId: 'bob' },
    });
    expect(extra.status).toBe(400);
    expect(await api.store.listUsers()).toEqual([]);
  });

  it('limits sign-ups per address: the one over the limit is 429 with Retry-After and makes no user', async () => {
    api = await startTestApi({ signup: 'open', signupsPerHour: 2 });
    for (const userName of ['Ann', 'Bea']) {
      const ok = await api.anonymous.request('POST', '/v1/devices', { name: 'p', signup: { userName } });
      expect(ok.status).toBe(201);
    }
    const over = await api.anonymous.request<Err>('POST', '/v1/devices', {
      name: 'p',
      signup: { userName: 'Cid' },
    });
    expect(over.status).toBe(429);
    expect(over.json.error.code).toBe('RATE_LIMITED');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await api.store.listUsers()).map((u) => u.name).sort()).toEqual(['Ann', 'Bea']);
    // Enrolling with a token is not a sign-up and is not held back by it.
    const token = await api.store.createEnrollmentToken((await api.store.listUsers())[0].id);
    const enrolled = await api.anonymous.request('POST', '/v1/devices', {
      name: 'q',
      enrollmentToken: token.token,
    });
    expect(enrolled.status).toBe(201);
  });

  it('lets the SDK enroll with FedexDevice.signup, then upload and sync', async () => {
    api = await startTestApi({ signup: 'open' });
    const device = await FedexDevice.open({
      server: api.url,
      store: new MemoryDeviceStore(),
      extractor: fakeExtractor(),
    });
    const e = await device.signup({ name: 'Ann', deviceName: 'ann browser' });
    expect(e.name).toBe('ann browser');
    await device.addFeatures(
      new Float32Array(8).fill(1),
      { id: 'IMG_1.jpg#0', label: 'Ann' },
      { flops: 10, ms: 1 },
    );
    const r = await device.sync();
    expect(r).toMatchObject({ uploaded: 1, samples: 1, pending: 0 });
    expect(device.costs()).toMatchObject({ photos: 1, flops: 10 });
    await expect(device.signup({ name: 'again' })).rejects.toThrow(/enrolled already/);
    await device.close();
  });
});

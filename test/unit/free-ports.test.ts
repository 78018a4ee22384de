/**
 * Picked ports stay out of the kernel's ephemeral range, where any outgoing connection may take
 * them as its source port before the process they were picked for binds them (a CI run lost a
 * supervisor restart to EADDRINUSE that way), and parallel jest workers pick from disjoint slices.
 */
import fs from 'node:fs';
import net from 'node:net';
import { freePorts } from '../../tools/dev/wait';

const ephemeralLow = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

async function asWorker<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.JEST_WORKER_ID;
  process.env.JEST_WORKER_ID = id;
  try {
    return await fn();
  } finally {
    process.env.JEST_WORKER_ID = saved;
  }
}

test('ports are distinct, free and below the ephemeral range', async () => {
  const ports = await freePorts(20);
  expect(new Set(ports).size).toBe(20);
  for (const port of ports) expect(port).toBeLessThan(ephemeralLow);
  // Each is bindable right now.
  for (const port of ports) {
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((r) => srv.close(r));
  }
});

test('two jest workers pick from disjoint slices', async () => {
  const one = await asWorker('1', () => freePorts(50));
  const two = await asWorker('2', () => freePorts(50));
  expect(Math.max(...one)).toBeLessThan(Math.min(...two));
});

test('a taken port is skipped', async () => {
  const [taken] = await freePorts(1);
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(taken, '127.0.0.1', resolve));
  try {
    // Every pick from now on sees the port taken, whatever the random start.
    for (let i = 0; i < 20; i++) expect(await freePorts(5)).not.toContain(taken);
  } finally {
    await new Promise((r) => srv.close(r));
  }
});

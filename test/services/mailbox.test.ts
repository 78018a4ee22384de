/**
 * The dev mailbox: what it records survives a restart, duplicates are kept, bounces refused.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startMailbox } from '../../tools/dev/mailbox/mailbox';
import { parseHeaders } from '../../tools/dev/mailbox/store';

let dataDir: string;
beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailbox-'));
});
afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

const start = () => startMailbox({ dataDir, host: '127.0.0.1', smtpPort: 0, httpPort: 0, logLevel: 'silent' });
const send = (port: number, to: string, messageId: string) =>
  nodemailer.createTransport({ host: '127.0.0.1', port, secure: false }).sendMail({ from: 'a@example.com', to, subject: 'Hi', text: 'x', messageId });

test('messages, duplicates included, are listed and survive a restart', async () => {
  const first = await start();
  await send(first.smtpPort, 'b@example.com', '<one@test>');
  await send(first.smtpPort, 'b@example.com', '<one@test>');
  await send(first.smtpPort, 'c@example.com', '<two@test>');
  await first.close();

  const second = await start();
  try {
    const all = (await (await fetch(`${second.httpUrl}/messages`)).json()) as { count: number; messages: { messageId: string }[] };
    expect(all.count).toBe(3);
    const dup = (await (await fetch(`${second.httpUrl}/messages?messageId=${encodeURIComponent('<one@test>')}`)).json()) as { count: number };
    expect(dup.count).toBe(2);
    const byTo = (await (await fetch(`${second.httpUrl}/messages?to=C@example.com`)).json()) as { messages: { messageId: string; subject: string }[] };
    expect(byTo.messages).toEqual([expect.objectContaining({ messageId: '<two@test>', subject: 'Hi', to: ['c@example.com'] })]);
    expect((await fetch(`${second.httpUrl}/healthz`)).status).toBe(200);
  } finally {
    await second.close();
  }
});

test('recipients @bounce.test are refused with 550 and nothing is recorded', async () => {
  const mailbox = await start();
  try {
    await expect(send(mailbox.smtpPort, 'x@bounce.test', '<b@test>')).rejects.toMatchObject({ responseCode: 550 });
    expect(mailbox.store.list()).toHaveLength(0);
  } finally {
    await mailbox.close();
  }
});

test('parseHeaders unfolds continuation lines and ignores the body', () => {
  const raw = 'Subject: a long\r\n subject\r\nMessage-ID: <x@y>\r\n\r\nSubject: not a header\r\n';
  expect(parseHeaders(raw)).toEqual({ messageId: '<x@y>', subject: 'a long subject' });
  expect(parseHeaders('From: a\r\n\r\nbody')).toEqual({ messageId: null, subject: null });
});

test('a client that resets its connection mid-session does not take the mailbox down', async () => {
  const mailbox = await start();
  try {
    const socket = net.connect(mailbox.smtpPort, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('data', () => resolve())); // the greeting
    socket.write('EHLO client.test\r\nMAIL FROM:<a@example.com>\r\n');
    await new Promise((r) => setTimeout(r, 100));
    socket.resetAndDestroy(); // TCP RST: the server sees ECONNRESET, as when a sender is SIGKILLed
    await new Promise((r) => setTimeout(r, 200));
    await send(mailbox.smtpPort, 'b@example.com', '<after-reset@test>');
    const found = (await (await fetch(`${mailbox.httpUrl}/messages?messageId=${encodeURIComponent('<after-reset@test>')}`)).json()) as { count: number };
    expect(found.count).toBe(1);
  } finally {
    await mailbox.close();
  }
});

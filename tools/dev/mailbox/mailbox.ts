/**
 * The development mailbox (docs/api.md#processes): an SMTP sink that records every message it accepts and
 * lists them over HTTP, so the audit can count confirmation e-mails by Message-ID.
 * Recipients at `@bounce.test` are refused with 550, as a real server refuses an unknown user,
 * which makes every send to them fail (docs/api.md#test-triggers).
 */
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { SMTPServer } from 'smtp-server';
import { createBaseApp } from '../../../src/platform/http/base-app';
import { MessageStore, parseHeaders, type MessageFilter } from './store';

export const BOUNCE_DOMAIN = 'bounce.test';
/** Confirmation e-mails are small; a cap keeps a misbehaving client from filling memory. */
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

export interface MailboxOptions {
  dataDir: string;
  host: string;
  smtpPort: number;
  httpPort: number;
  logLevel: string;
  /** JSON log lines instead of readable ones (config.logFormat); default readable. */
  logJson?: boolean;
}

export interface Mailbox {
  smtpPort: number;
  httpUrl: string;
  store: MessageStore;
  log: FastifyBaseLogger;
  close(): Promise<void>;
}

function smtpServer(store: MessageStore, log: FastifyBaseLogger): SMTPServer {
  return new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: MAX_MESSAGE_BYTES,
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address.toLowerCase().endsWith(`@${BOUNCE_DOMAIN}`)) {
        const err = Object.assign(new Error('Recipient address rejected: mailbox unavailable'), { responseCode: 550 });
        return callback(err);
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          return callback(Object.assign(new Error('Message exceeds the size limit'), { responseCode: 552 }));
        }
        const raw = Buffer.concat(chunks);
        const { messageId, subject } = parseHeaders(raw.toString('utf8'));
        const mailFrom = session.envelope.mailFrom;
        store
          .append({
            messageId,
            from: mailFrom ? mailFrom.address : null,
            to: session.envelope.rcptTo.map((r) => r.address),
            subject,
            receivedAt: new Date().toISOString(),
            size: raw.length,
          })
          .then(
            () => {
              log.info({ messageId, size: raw.length }, 'message received');
              callback();
            },
            (err: Error) => callback(err), // not recorded, so not accepted: the sender retries
          );
      });
    },
  });
}

function httpApp(store: MessageStore, level: string, json: boolean): FastifyInstance {
  const app = createBaseApp({ log: { level, json, name: 'mailbox' } });
  app.get('/healthz', { config: { probe: true } }, async () => ({ status: 'ok', service: 'mailbox' }));
  app.get<{ Querystring: MessageFilter }>(
    '/messages',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { to: { type: 'string', maxLength: 254 }, messageId: { type: 'string', maxLength: 998 } },
        },
      },
    },
    async (request) => {
      const messages = store.list(request.query);
      return { count: messages.length, messages };
    },
  );
  return app;
}

export async function startMailbox(opts: MailboxOptions): Promise<Mailbox> {
  const store = new MessageStore(path.join(opts.dataDir, 'mailbox', 'messages.jsonl'));
  const app = httpApp(store, opts.logLevel, opts.logJson ?? false);
  const smtp = smtpServer(store, app.log);
  // A client that drops its connection mid-session (a notification service SIGKILLed while
  // sending) is an 'error' of the SMTP server object; unheard, it would crash the mailbox.
  smtp.on('error', (err: Error) => app.log.warn({ err }, 'SMTP connection error'));
  await new Promise<void>((resolve, reject) => {
    smtp.server.once('error', reject);
    smtp.listen(opts.smtpPort, opts.host, () => resolve());
  });
  const httpUrl = await app.listen({ host: opts.host, port: opts.httpPort });
  return {
    smtpPort: (smtp.server.address() as AddressInfo).port,
    httpUrl,
    store,
    log: app.log,
    async close() {
      await app.close();
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    },
  };
}

/**
 * The mailbox's record of received messages: an append-only JSONL file, so counts survive a
 * restart, plus an in-memory copy for queries. One line per accepted message: a duplicate
 * Message-ID is a second line, which is exactly what the audit needs to see.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ReceivedMessage {
  /** The Message-ID header as sent, angle brackets included; null when absent. */
  messageId: string | null;
  /** Envelope sender and recipients (what the SMTP client asked for, not the headers). */
  from: string | null;
  to: string[];
  subject: string | null;
  receivedAt: string;
  /** Size of the raw message in bytes. */
  size: number;
}

export interface MessageFilter {
  to?: string;
  messageId?: string;
}

export class MessageStore {
  private readonly messages: ReceivedMessage[] = [];

  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (!fs.existsSync(file)) return;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        this.messages.push(JSON.parse(line) as ReceivedMessage);
      } catch {
        // A line torn by a crash mid-append: that message was never acknowledged to the sender.
      }
    }
  }

  /** Durably records a message; the caller acknowledges it to the SMTP client only afterwards. */
  async append(message: ReceivedMessage): Promise<void> {
    await fs.promises.appendFile(this.file, `${JSON.stringify(message)}\n`);
    this.messages.push(message);
  }

  list(filter: MessageFilter = {}): ReceivedMessage[] {
    const to = filter.to?.toLowerCase();
    return this.messages.filter(
      (m) =>
        (to === undefined || m.to.some((r) => r.toLowerCase() === to)) &&
        (filter.messageId === undefined || m.messageId === filter.messageId),
    );
  }
}

/** Reads the headers this mailbox records from a raw RFC 5322 message. */
export function parseHeaders(raw: string): { messageId: string | null; subject: string | null } {
  const end = raw.search(/\r?\n\r?\n/);
  const head = end === -1 ? raw : raw.slice(0, end);
  // Unfold continuation lines (RFC 5322 §2.2.3) before splitting into fields.
  const fields = head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
  const field = (name: string) => {
    const prefix = `${name.toLowerCase()}:`;
    const line = fields.find((f) => f.toLowerCase().startsWith(prefix));
    return line === undefined ? null : line.slice(prefix.length).trim();
  };
  return { messageId: field('Message-ID'), subject: field('Subject') };
}

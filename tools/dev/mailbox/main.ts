import { loadConfig } from '../../../src/platform/config';
import { closeOnSignal } from '../../../src/platform/http/service-main';
import { startMailbox } from './mailbox';

void (async () => {
  const config = loadConfig();
  const mailbox = await startMailbox({
    dataDir: config.dataDir,
    host: config.host,
    smtpPort: config.ports.mailboxSmtp,
    httpPort: config.ports.mailboxHttp,
    logLevel: config.logLevel,
  });
  closeOnSignal(mailbox.close, mailbox.log);
})().catch((err: unknown) => {
  console.error('mailbox failed to start', err);
  process.exit(1);
});

/** `npm run start:mailbox`: the development mailbox, on the product's process bootstrap. */
import { runProcess } from '../../../src/platform/bootstrap';
import { startMailbox } from './mailbox';

runProcess({
  name: 'mailbox',
  async start(config) {
    const mailbox = await startMailbox({
      dataDir: config.dataDir,
      host: config.binds.mailbox,
      smtpPort: config.ports.mailboxSmtp,
      httpPort: config.ports.mailboxHttp,
      logLevel: config.logLevel,
      logJson: config.logFormat === 'json',
    });
    return { shutdown: mailbox.close };
  },
});

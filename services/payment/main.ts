import { runService } from '../../lib/http/service-main';
import { buildApp, migrations } from './app';

void runService({ name: 'payment', migrations, buildApp });

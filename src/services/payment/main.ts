import { runService } from '../../platform/http/service-main';
import { buildApp, migrations } from './app';

void runService({ name: 'payment', migrations, buildApp });

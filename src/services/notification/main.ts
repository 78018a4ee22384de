import { runService } from '../../platform/http/service-main';
import { buildApp, migrations } from './app';

runService({ name: 'notification', migrations, buildApp });

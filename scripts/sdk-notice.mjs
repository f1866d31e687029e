// The scripts own their stderr as the CLI does: the AWS SDK's eight-line Node 20 warning becomes
// the CLI's one line (apps/shardline/src/node-version-notice.ts owns the wording).
import { condenseSdkNodeVersionWarning } from '../apps/shardline/dist/node-version-notice.js';

condenseSdkNodeVersionWarning();

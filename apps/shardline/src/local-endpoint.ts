/**
 * DynamoDB Local (and the stream simulator) check neither signatures nor regions, but the SDK
 * refuses to send a request without credentials and a region. So a command whose endpoints are
 * all on this machine fills in what the shell does not give it: credentials `local`/`local` and
 * region us-east-1, the values `shardline local` prints. Anything the user set (flags, AWS_*
 * variables, a profile) wins, and a remote endpoint or real AWS never gets invented values.
 *
 * Note: DynamoDB Local without `-sharedDb` keeps one database per access key and region, so a
 * process given `local`/us-east-1 sees the tables of that pair; `shardline local` always runs
 * with `-sharedDb`.
 */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True for an http(s) URL whose host is this machine (localhost, 127.0.0.0/8, ::1). */
export function isLoopbackEndpoint(endpoint: string): boolean {
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return false;
  }
  return LOOPBACK_HOSTS.has(host) || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The credential sources of the SDK's default chain that a shell names in its environment. */
const CREDENTIAL_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
] as const;

export interface LocalDefaults {
  credentials?: typeof LOCAL_CREDENTIALS;
  region?: string;
}

/**
 * What to add to the client options of a command that talks to `endpoints` (undefined = the
 * region's AWS endpoint). Empty unless every endpoint is local.
 */
export function localDefaults(
  endpoints: readonly (string | undefined)[],
  region: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): LocalDefaults {
  if (endpoints.length === 0 || !endpoints.every((e) => e !== undefined && isLoopbackEndpoint(e))) return {};
  const out: LocalDefaults = {};
  if (!CREDENTIAL_VARIABLES.some((name) => env[name])) out.credentials = LOCAL_CREDENTIALS;
  if (region === undefined && !env.AWS_REGION && !env.AWS_DEFAULT_REGION) out.region = LOCAL_REGION;
  return out;
}

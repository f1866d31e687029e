import { regionOfArn } from '@shardline/worker';
import { UsageError } from './usage-error.js';

/**
 * Which region a command's clients use when it is given stream ARNs. A stream ARN names its
 * region (`arn:aws:dynamodb:eu-west-1:…`), so `--stream-arn` alone is enough: without `--region`
 * the clients go to the ARNs' region, even when AWS_REGION (a shell-wide default) names another,
 * where the stream does not exist. ARNs of different regions, or a `--region` that disagrees
 * with them, are refused: one process reads one region. DynamoDB Local's ARNs (`ddblocal`) name
 * no region and are left out, so a local run keeps the region it was given.
 */

/** The region a stream ARN names (the worker's `regionOfArn`), or undefined for DynamoDB Local's `ddblocal` and for what is no ARN. */
export function streamRegionOf(arn: string): string | undefined {
  const region = arn.startsWith('arn:') ? regionOfArn(arn) : '';
  return region === '' || region === 'ddblocal' ? undefined : region;
}

/** `region` (the `--region` flag) checked against the ARNs, else the ARNs' one region. */
export function regionForStreams(
  region: string | undefined,
  streamArns: readonly (string | undefined)[],
): string | undefined {
  const regions = [...new Set(streamArns.flatMap((arn) => (arn === undefined ? [] : (streamRegionOf(arn) ?? []))))];
  if (regions.length > 1)
    throw new UsageError(
      `the stream ARNs are in different regions (${regions.join(', ')}): run one process per region`,
    );
  const [arnRegion] = regions;
  if (region !== undefined && arnRegion !== undefined && region !== arnRegion)
    throw new UsageError(
      `--region ${region} disagrees with the stream ARN's region ${arnRegion}: drop --region or fix it`,
    );
  return region ?? arnRegion;
}

/** `settings` with the region its stream ARNs imply (see above). */
export function withStreamRegion<S extends { region?: string | undefined }>(
  settings: S,
  streamArns: readonly (string | undefined)[],
): S {
  const region = regionForStreams(settings.region, streamArns);
  return region === undefined ? settings : { ...settings, region };
}

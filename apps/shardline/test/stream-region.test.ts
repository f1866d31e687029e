import { describe, expect, it } from 'vitest';
import { regionForStreams, streamRegionOf } from '../src/stream-region.js';
import { captureCli } from './capture-cli.js';

const arn = (region: string, table = 'orders') =>
  `arn:aws:dynamodb:${region}:123456789012:table/${table}/stream/2024-01-01T00:00:00.000`;

describe('the region of stream ARNs', () => {
  it('reads the region of an ARN; DynamoDB Local ARNs and non-ARNs name none', () => {
    expect(streamRegionOf(arn('eu-west-1'))).toBe('eu-west-1');
    expect(streamRegionOf('arn:aws-cn:dynamodb:cn-north-1:1:table/t/stream/x')).toBe('cn-north-1');
    expect(streamRegionOf(arn('ddblocal'))).toBeUndefined();
    expect(streamRegionOf('orders')).toBeUndefined();
  });

  it('takes the ARNs’ region without --region, keeps an agreeing --region, and refuses disagreement', () => {
    expect(regionForStreams(undefined, [arn('eu-west-1'), arn('eu-west-1', 'payments')])).toBe('eu-west-1');
    expect(regionForStreams('eu-west-1', [arn('eu-west-1')])).toBe('eu-west-1');
    expect(regionForStreams('us-east-1', [arn('ddblocal'), undefined])).toBe('us-east-1');
    expect(regionForStreams(undefined, [])).toBeUndefined();
    expect(() => regionForStreams('us-east-1', [arn('eu-west-1')])).toThrow(
      "--region us-east-1 disagrees with the stream ARN's region eu-west-1",
    );
    expect(() => regionForStreams(undefined, [arn('eu-west-1'), arn('us-east-1', 'p')])).toThrow(
      'the stream ARNs are in different regions (eu-west-1, us-east-1)',
    );
  });

  it('shardline run and reset: a --region the ARN disagrees with is one line and exit 2', async () => {
    for (const argv of [
      ['run', '--stream-arn', arn('eu-west-1'), '--region', 'us-east-1', '--processor', './p.mjs'],
      ['reset', '--app', 'a', '--stream-arn', arn('eu-west-1'), '--region', 'us-east-1', '--to', 'latest'],
    ]) {
      const result = await captureCli(argv);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        "shardline: --region us-east-1 disagrees with the stream ARN's region eu-west-1: drop --region or fix it\n",
      );
    }
  });
});

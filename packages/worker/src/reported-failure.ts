import { ProcessorError } from '@shardline/core';

/**
 * The processor answered, naming records it did not process (a Lambda partial batch response,
 * `batchItemFailures`): an expected outcome of a working function, not a bug. The failure policy
 * retries from `retryFrom` as for any failure, but logs it as one line without a stack.
 */
export class ReportedFailure extends ProcessorError {
  /** Always true: the processor itself reported the failure (nothing was thrown by a bug). */
  readonly reported = true;
  /** The first record to retry: the reported one earliest in the batch. */
  readonly retryFrom: string;
  /** How many records the processor reported as failed. */
  readonly reportedRecords: number;

  constructor(shardId: string, retryFrom: string, reportedRecords: number) {
    super(
      shardId,
      `the function reported ${reportedRecords} failed record${reportedRecords === 1 ? '' : 's'}; retrying from ${retryFrom}`,
      { retryable: true },
    );
    this.retryFrom = retryFrom;
    this.reportedRecords = reportedRecords;
  }
}

// @roboflow/tfrecords 1.0.4 ships JavaScript only (its package.json names a missing index.d.ts);
// this declares the one call src/report/tensorboard.ts uses.
declare module '@roboflow/tfrecords' {
  /** Frames records as a TFRecord stream: uint64 length, masked CRC-32C of it, data, masked CRC-32C of data. */
  export class TFRecordsBuilder {
    static buildTFRecords(records: Buffer[]): Buffer;
  }
  const _default: { TFRecordsBuilder: typeof TFRecordsBuilder };
  export default _default;
}

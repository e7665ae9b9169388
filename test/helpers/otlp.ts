/** The OTLP/HTTP JSON span as the tracing suites read it from a collector on loopback (OTLP's JSON encoding). */
export interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string };
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  status: { code: number };
}

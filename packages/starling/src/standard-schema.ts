/**
 * @module standard-schema
 * The Standard Schema interface, on its own so that channels (payload `schemas`) and tokens
 * (`verify`'s `schema`) share it without importing each other.
 */
/**
 * The Standard Schema interface (v1, https://standardschema.dev) that zod, valibot, arktype and
 * others implement: only what Starling calls. Starling depends on none of them.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardSchemaV1.Result<Output> | Promise<StandardSchemaV1.Result<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

// A type-only namespace, as the Standard Schema spec spells it (erased: no runtime code).
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace StandardSchemaV1 {
  /** The outcome of `validate`: the (possibly transformed) value, or the issues. */
  type Result<Output> = { readonly value: Output; readonly issues?: undefined } | { readonly issues: ReadonlyArray<Issue> };
  /** One validation problem. */
  interface Issue {
    readonly message: string;
    readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
  }
  /** The type a schema produces. */
  type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output'];
  /** The type a schema accepts (e.g. with a defaulted field optional). */
  type InferInput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['input'];
}

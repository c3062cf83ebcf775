// Types of bench/gen-twcs.mjs for the TypeScript tests.
export declare const HEADER: string
export declare const twitterDate: (millis: number) => string
export interface GenerateTwcsOptions {
  readonly tweets?: number
  readonly out: string
  readonly truth?: string | null
  readonly seed?: number
  readonly keepTruth?: boolean
}
export declare const generateTwcs: (options: GenerateTwcsOptions) => Promise<Record<string, unknown>>

// The parser ships no type declarations; the tests describe the shape they read themselves.
declare module "parse-prometheus-text-format" {
  const parsePrometheusTextFormat: (text: string) => unknown
  export default parsePrometheusTextFormat
}

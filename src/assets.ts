/**
 * Files the build puts beside the compiled code (dist/docs/, dist/dashboard/), located from this
 * module: it sits at the top of dist/ both in the tsc output and in the bundled dist/main.js
 * (scripts/bundle.mjs), so the same relative paths hold in either layout.
 */
export const builtAsset = (relativePath: string): URL => new URL(relativePath, import.meta.url)

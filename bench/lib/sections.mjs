// The section loop of the benchmarks made of sections (bench:redis, bench:server):
// each section is a module `<dir>/<name>.mjs` whose default export is
// `async (ctx) => void`; a section not written yet is noted and skipped.

/**
 * Runs the sections named in `only` (each must be one of `sections`) from
 * `dir` (a URL of the folder, ending in '/'), in order, with `ctx`.
 */
export async function runSections(dir, sections, only, ctx) {
  for (const name of only) {
    if (!sections.includes(name)) throw new Error(`unknown section ${name} (sections: ${sections.join(', ')})`);
    const file = new URL(`${name}.mjs`, dir);
    const mod = await import(file).catch((err) => {
      if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(file.pathname)) return null;
      throw err;
    });
    if (mod === null) { ctx.note(`(section ${name}: not written yet)`); continue; }
    await mod.default(ctx);
  }
}

import { Effect } from "effect"

/**
 * Resumes after Node has run pending I/O callbacks (setImmediate runs after the poll phase).
 * Effect's scheduler only yields to the event loop now and then; CPU-bound loops (the local
 * analyzer, group commits) call this so HTTP requests are served in between.
 */
export const nextEventLoopTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * The `insightd` binary: a launcher for the program (src/program.ts, bundled into
 * dist/program.js). Loading that bundle takes ~0.5 s, and until its runtime installs the SIGINT
 * and SIGTERM handlers, node would leave those signals to their default action: a daemon that
 * systemd or Docker stops while it starts would die with status 143 and no log line, where
 * SPEC §5 promises a drain and exit 0. So this small module takes the signals first, loads the
 * program, hands over, and raises again any signal that came in the meantime, which the program
 * then handles as it handles one a moment later (the daemon drains and exits 0, a stage command
 * exits 128 + the signal's number).
 */
const SIGNALS = ["SIGINT", "SIGTERM"] as const
type StopSignal = (typeof SIGNALS)[number]

const early: Array<StopSignal> = []
const remember = (signal: StopSignal): void => {
  if (!early.includes(signal)) early.push(signal)
}
for (const signal of SIGNALS) process.on(signal, remember)

// The program installs its handlers while its module is evaluated; a signal delivered after that
// reaches them directly (this hand-over runs before node next dispatches a signal).
await import("./program.js")
for (const signal of SIGNALS) process.off(signal, remember)
for (const signal of early) process.kill(process.pid, signal)

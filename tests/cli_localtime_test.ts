/**
 * `pcns-agent events` prints local time with the UTC offset, as the web UI's event log does (issue 15):
 * the shared formatter at fixed offsets, and `formatEventLine` in a child process with TZ=Europe/Berlin
 * (winter +01:00, summer +02:00); the record (`--json`) keeps its ISO UTC time.
 */
import assert from "node:assert/strict";
import { formatUtcOffset, localTime } from "../src/text/localtime.ts";

Deno.test("localTime: the time at an offset, across a day boundary, negative and half-hour offsets", () => {
  const t = Date.UTC(2026, 11, 2, 14, 4, 5, 900);
  assert.equal(localTime(t, 60), "2026-12-02 15:04:05 +01:00");
  assert.equal(localTime(t, 0), "2026-12-02 14:04:05 +00:00");
  assert.equal(localTime(t, -330), "2026-12-02 08:34:05 -05:30");
  assert.equal(localTime(Date.UTC(2026, 11, 31, 23, 30), 120), "2027-01-01 01:30:00 +02:00");
  assert.equal(localTime(Date.UTC(2026, 0, 1, 0, 15), -60), "2025-12-31 23:15:00 -01:00");
  assert.equal(formatUtcOffset(-45), "-00:45");
  assert.equal(formatUtcOffset(345), "+05:45");
});

Deno.test("events lines: local time with the UTC offset of TZ, per the event's date; a bad time as is", async () => {
  const code = `
    import { formatEventLine, formatEventLines } from "./src/cli/event_lines.ts";
    const rec = (time, id) => ({ time, id, severity: "info", message: "m " + id });
    console.log(JSON.stringify([
      formatEventLine(rec("2026-12-02T14:04:05.000Z", "PowerFailed")),
      formatEventLine(rec("2026-07-01T10:00:00.000Z", "PowerRestored")),
      ...formatEventLines([rec("not a time", "LowBattery")]),
    ]));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", code],
    cwd: new URL("..", import.meta.url).pathname,
    env: { TZ: "Europe/Berlin", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const lines: string[] = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.deepEqual(lines, [
    "2026-12-02 15:04:05 +01:00  info      PowerFailed  m PowerFailed",
    "2026-07-01 12:00:00 +02:00  info      PowerRestored  m PowerRestored",
    "not a time  info      LowBattery  m LowBattery",
  ]);
});

// trend.js - the backlog's trend from the counts the page polls: how fast it drains (or grows) over the
// last few seconds (a short window, so that a load that turns from filling to draining shows it soon),
// and when it will be empty at that pace (shown during an initial load or a replay).

export class Trend {
  constructor(windowMs) {
    this.windowMs = windowMs || 5000;
    this.samples = [];
  }

  // A backlog count seen at time t (ms).
  add(t, backlog) {
    this.samples.push([t, backlog]);
    while (this.samples.length > 2 && t - this.samples[0][0] > this.windowMs) this.samples.shift();
  }

  // Records per second leaving the backlog (negative: it grows), or null before 1.5 s of samples.
  drainRate() {
    const first = this.samples[0], last = this.samples[this.samples.length - 1];
    if (!first || last[0] - first[0] < 1500) return null;
    return (first[1] - last[1]) / ((last[0] - first[0]) / 1000);
  }

  // {text, etaSeconds} for a backlog of `backlog` records while `writtenPerS` are written.
  describe(backlog, writtenPerS) {
    const rate = this.drainRate();
    const writing = writtenPerS > 0.5 ? `writing ${Math.round(writtenPerS).toLocaleString("en-US")}/s` : "";
    if (backlog === 0) return { text: "empty", etaSeconds: 0 };
    if (rate === null) return { text: writing || "measuring…", etaSeconds: null };
    const per = Math.abs(rate) < 1 ? Math.abs(rate).toFixed(1) : Math.round(Math.abs(rate)).toLocaleString("en-US");
    if (rate > 0.05) {
      const eta = backlog / rate;
      return { text: `draining ${per}/s`, etaSeconds: eta };
    }
    if (rate < -0.05) return { text: `growing ${per}/s` + (writing ? ", " + writing : ""), etaSeconds: null };
    return { text: writing || "not moving", etaSeconds: null };
  }
}

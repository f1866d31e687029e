// The soak's growth verdict, apart from the processes it measures so it is tested with plain
// samples (test/soak-verdict.test.ts). A stayer is judged by the least-squares slope of its RSS,
// heap and handles over the last half of the run (the warm-up left out); a half shorter than
// MIN_HALF_MINUTES holds too few samples, and too little time, for a slope to say anything, so
// such a run is "too short to judge" instead of "flat".

/** Growth over the last half above these slopes (per minute) is "grows". */
export const LIMITS = { rssMiBPerMin: 1, heapMiBPerMin: 0.5, handlesPerMin: 0.5 };
/** The shortest last half a slope is computed over. */
export const MIN_HALF_MINUTES = 5;
export const TOO_SHORT = 'too short to judge';

/** Least-squares slope of y over x (0 for fewer than two points or one x). */
export function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/**
 * One stayer's verdict from its samples (`{ minute, rssMiB, heapMiB, handles }`) over a run of
 * `runMinutes`: `flat`, `grows`, or TOO_SHORT (then no slopes).
 */
export function stayerVerdict(samples, runMinutes, limits = LIMITS) {
  if (runMinutes / 2 < MIN_HALF_MINUTES) return { verdict: TOO_SHORT };
  const late = samples.filter((s) => s.minute >= runMinutes / 2);
  const per = (key) => slope(late.map((s) => ({ x: s.minute, y: s[key] })));
  const slopes = { rssSlope: per('rssMiB'), heapSlope: per('heapMiB'), handlesSlope: per('handles') };
  const flat =
    slopes.rssSlope <= limits.rssMiBPerMin &&
    slopes.heapSlope <= limits.heapMiBPerMin &&
    slopes.handlesSlope <= limits.handlesPerMin;
  return { ...slopes, verdict: flat ? 'flat' : 'grows' };
}

/** The run's verdict: `grows` if any stayer grows, else TOO_SHORT if any could not be judged, else `flat`. */
export function runVerdict(verdicts) {
  if (verdicts.some((v) => v.verdict === 'grows')) return 'grows';
  if (verdicts.some((v) => v.verdict === TOO_SHORT)) return TOO_SHORT;
  return 'flat';
}

/**
 * The rule by which completed streams of one user to one server share a record, a span: the in-memory index
 * (flow-index.ts) and the store (src/store/flow-spans.ts) both fold by it. Pure.
 *
 * Why a decision read from spans is the one read from the streams: the identifying step (decision.ts) counts a user
 * in use at `t` when some stream started by `t` and ended no more than graceMs before it, i.e. when `t` lies in the
 * union of [start, end + graceMs] over the streams. A stream joins a span only when it starts no earlier than the
 * span's first stream and at most gapMs <= graceMs after the span's end, so that union, for the streams of a span,
 * is exactly [span start, span end + graceMs]. The span's start never moves, and its latest start (lastStartedAt)
 * is exact: the end of a reconnect window asks whether a stream started during it.
 */

/** foldable says whether a stream may be part of a span: it has ended, and ended `completed`. */
export function foldable(endedAt: number | string | null, endReason: string | null): boolean {
  return endedAt !== null && endReason === 'completed';
}

/**
 * joinsSpan says whether a completed stream [startedAt, endedAt] joins a span that runs from spanStart to spanEnd,
 * given the longest pause gapMs (at most graceMs) and the longest span spanMs. (Numbers, not objects: it runs for
 * every request in access-log and flow-log modes.)
 */
export function joinsSpan(spanStart: number, spanEnd: number, startedAt: number, endedAt: number, gapMs: number, spanMs = Number.POSITIVE_INFINITY): boolean {
  return startedAt >= spanStart && startedAt <= spanEnd + gapMs && Math.max(spanEnd, endedAt) - spanStart <= spanMs;
}

/** GrowingSpan is what a span keeps that grows as streams join it. */
export interface GrowingSpan {
  lastStartedAt: number;
  endedAt: number;
  streams: number;
}

/**
 * growSpan adds to a span what joins it (joinsSpan): one stream, or a span of streams folded before (the data path
 * folds before the store and the index do), given by its latest start, its end and its count. The latest start is
 * the larger, as the end; the counts add.
 */
export function growSpan(span: GrowingSpan, lastStartedAt: number, endedAt: number, streams: number): void {
  if (lastStartedAt > span.lastStartedAt) span.lastStartedAt = lastStartedAt;
  if (endedAt > span.endedAt) span.endedAt = endedAt;
  span.streams += streams;
}

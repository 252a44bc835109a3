// Captions under graph nodes: how long they may get and how wide they draw.
//
// Labels are not measured in the browser: the layout runs in a worker with
// no canvas, and measuring thousands of labels cost more than laying them
// out. An estimate from the character count is enough to keep neighbours'
// labels apart; it errs on the wide side.

/** Longer lines are cut in the middle; the details panel shows them whole. */
export const MAX_CAPTION_CHARS = 36;
/** Mean advance of one character of the 12 px graph font, rounded up. */
export const CHAR_WIDTH = 7;
/** `text-max-width` of the graph style: a caption line never draws wider. */
export const CAPTION_MAX_WIDTH = Math.ceil(MAX_CAPTION_CHARS * CHAR_WIDTH) + 4;

/**
 * Cuts `text` to at most `max` characters with an ellipsis in the middle:
 * container and process names differ at the end ("…-web-1", "…-web-2"), so
 * both ends are kept.
 */
export function truncateMiddle(text: string, max = MAX_CAPTION_CHARS): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  const keep = max - 1;
  const head = Math.ceil(keep / 2);
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - (keep - head)).join('')}`;
}

/** The two-line caption drawn under a node: label, then minor label. */
export function nodeCaption(label: string, minor: string | undefined): string {
  const first = truncateMiddle(label);
  return minor ? `${first}\n${truncateMiddle(minor)}` : first;
}

/** Estimated drawn width of a caption in graph units (its widest line). */
export function captionWidth(caption: string): number {
  let widest = 0;
  for (const line of caption.split('\n')) widest = Math.max(widest, Array.from(line).length);
  return Math.min(widest * CHAR_WIDTH, CAPTION_MAX_WIDTH);
}

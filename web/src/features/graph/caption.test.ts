import { describe, expect, it } from 'vitest';

import { CAPTION_MAX_WIDTH, CHAR_WIDTH, MAX_CAPTION_CHARS, captionWidth, nodeCaption, truncateMiddle } from './caption';

describe('truncateMiddle', () => {
  const cases: Array<[string, number, string]> = [
    ['web-1', 10, 'web-1'],
    ['0123456789', 10, '0123456789'],
    ['0123456789a', 10, '01234…789a'],
    ['periscope-test-web-client-30845-1', 20, 'periscope-…t-30845-1'],
    // Characters, not UTF-16 units: an emoji is never cut in half.
    ['😀😀😀😀😀😀', 5, '😀😀…😀😀'],
  ];
  for (const [text, max, expected] of cases) {
    it(`cuts "${text}" to ${max}`, () => {
      expect(truncateMiddle(text, max)).toBe(expected);
      expect(Array.from(truncateMiddle(text, max)).length).toBeLessThanOrEqual(max);
    });
  }
});

describe('nodeCaption and captionWidth', () => {
  it('cuts each line on its own and keeps short ones whole', () => {
    const long = 'x'.repeat(MAX_CAPTION_CHARS + 10);
    const caption = nodeCaption(long, 'host-a');
    const [first, second] = caption.split('\n');
    expect(Array.from(first ?? '').length).toBe(MAX_CAPTION_CHARS);
    expect(second).toBe('host-a');
    expect(nodeCaption('web-1', '')).toBe('web-1');
  });

  it('measures the widest line, and never more than the style lets a line draw', () => {
    expect(captionWidth('ab\nabcd')).toBe(4 * CHAR_WIDTH);
    expect(captionWidth(nodeCaption('y'.repeat(200), 'z'))).toBeLessThanOrEqual(CAPTION_MAX_WIDTH);
    expect(captionWidth('')).toBe(0);
  });
});

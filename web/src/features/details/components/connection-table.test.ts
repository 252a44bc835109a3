import { describe, expect, it } from 'vitest';

import { describeFailures } from './connection-table';

describe('describeFailures', () => {
  it('names the kinds that happened', () => {
    expect(describeFailures({ connections: 9, refused: 3, unanswered: 1, reset: 0, retransmits: 0 })).toBe(
      '3 refused, 1 unanswered',
    );
  });
  it('says none, or a dash without the tracer', () => {
    expect(describeFailures({ connections: 9, refused: 0, unanswered: 0, reset: 0, retransmits: 0 })).toBe('none');
    expect(describeFailures(null)).toBe('–');
  });
});

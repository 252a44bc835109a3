// The keyboard shortcuts, opened with `?`.

import { useEffect, useRef } from 'preact/hooks';

const SHORTCUTS: Array<[string, string]> = [
  ['/', 'Search'],
  ['Esc', 'Clear the search, close details, close this list'],
  ['?', 'Show or hide this list'],
  ['Tab', 'Move between controls, the map and table rows'],
  ['← ↑ → ↓', 'On the map: move to the nearest node that way'],
  ['Enter / Space', 'On the map or a table row: open the node (or a group)'],
  ['+ / −', 'On the map: zoom in or out'],
];

export function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => closeRef.current?.focus(), []);
  return (
    <div class="dialog-backdrop" onClick={onClose}>
      <div
        class="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="shortcuts-title"
        data-testid="shortcuts"
        onClick={(event) => event.stopPropagation()}
      >
        <h2 id="shortcuts-title">Keyboard shortcuts</h2>
        <table>
          <tbody>
            {SHORTCUTS.map(([keys, what]) => (
              <tr key={keys}>
                <th scope="row">
                  <kbd>{keys}</kbd>
                </th>
                <td>{what}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <button type="button" ref={closeRef} onClick={onClose}>
          Close
        </button>
      </div>
    </div>
  );
}

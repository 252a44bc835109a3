// The view switcher (with node counts) and the current view's options.

import type { TopologySummary, ViewOptionSpec } from '../../../lib/api-types';
import { defaultOptionSpecs, type ViewOptions } from '../../../lib/view-options';

/** Shown before GET /api/topology answers, in the order of docs/api.md. */
export const KNOWN_VIEWS: Array<{ id: string; label: string }> = [
  { id: 'processes', label: 'Processes' },
  { id: 'processes-by-name', label: 'By name' },
  { id: 'containers', label: 'Containers' },
  { id: 'containers-by-image', label: 'By image' },
  { id: 'containers-by-hostname', label: 'By hostname' },
  { id: 'compose', label: 'Compose' },
  { id: 'hosts', label: 'Hosts' },
];

export interface TopologyPickerProps {
  topologies: TopologySummary[] | undefined;
  current: string;
  /** Nodes of the open view as drawn now (the live count; the list's may be a second older). */
  currentCount: number | null;
  options: ViewOptions;
  onSelect: (view: string) => void;
  onOptionChange: (spec: ViewOptionSpec, value: string) => void;
}

/** The options of `view` with its defaults, from the app's list when it has answered. */
export function optionSpecsOf(view: string, topologies: TopologySummary[] | undefined): ViewOptionSpec[] {
  const spec = topologies?.find((entry) => entry.id === view);
  return spec && spec.options.length > 0 ? spec.options : defaultOptionSpecs(view);
}

export function TopologyPicker(props: TopologyPickerProps) {
  const views = props.topologies ?? KNOWN_VIEWS.map((view) => ({ ...view, nodes: null }));
  const optionSpecs = optionSpecsOf(props.current, props.topologies);
  return (
    <div class="topology-picker">
      <nav class="views" aria-label="Topology views">
        {views.map((view) => {
          const count = view.id === props.current && props.currentCount !== null ? props.currentCount : view.nodes;
          return (
            <button
              type="button"
              key={view.id}
              data-view={view.id}
              class={view.id === props.current ? 'active' : ''}
              aria-current={view.id === props.current ? 'page' : undefined}
              onClick={() => props.onSelect(view.id)}
            >
              {view.label}
              {count !== null ? (
                <span class="count" data-testid={`count-${view.id}`}>
                  {count}
                </span>
              ) : null}
            </button>
          );
        })}
      </nav>
      <div class="view-options">
        {optionSpecs.map((spec) => (
          <label key={spec.id} class="view-option">
            <span>{spec.id}</span>
            <select
              data-option={spec.id}
              value={props.options[spec.id] ?? spec.default}
              onChange={(event) => props.onOptionChange(spec, (event.target as HTMLSelectElement).value)}
            >
              {spec.values.map((value) => (
                <option key={value} value={value}>
                  {value}
                </option>
              ))}
            </select>
          </label>
        ))}
      </div>
    </div>
  );
}

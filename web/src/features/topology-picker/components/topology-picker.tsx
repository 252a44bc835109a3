// The view switcher (with node counts) and the current view's options.

import type { TopologySummary, ViewOptionSpec } from '../../../lib/api-types';
import { DEFAULT_OPTION_SPECS, type ViewOptions } from '../../../lib/view-options';

/** Shown before GET /api/topology answers, in the order of docs/api.md. */
const KNOWN_VIEWS: Array<{ id: string; label: string }> = [
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
  options: ViewOptions;
  onSelect: (view: string) => void;
  onOptionChange: (id: string, value: string) => void;
}

export function TopologyPicker(props: TopologyPickerProps) {
  const views = props.topologies ?? KNOWN_VIEWS.map((view) => ({ ...view, nodes: null }));
  const currentSpec = props.topologies?.find((view) => view.id === props.current);
  const optionSpecs: ViewOptionSpec[] =
    currentSpec && currentSpec.options.length > 0 ? currentSpec.options : DEFAULT_OPTION_SPECS;
  return (
    <div class="topology-picker">
      <nav class="views" aria-label="Topology views">
        {views.map((view) => (
          <button
            type="button"
            key={view.id}
            data-view={view.id}
            class={view.id === props.current ? 'active' : ''}
            aria-current={view.id === props.current ? 'page' : undefined}
            onClick={() => props.onSelect(view.id)}
          >
            {view.label}
            {view.nodes !== null ? <span class="count">{view.nodes}</span> : null}
          </button>
        ))}
      </nav>
      <div class="view-options">
        {optionSpecs.map((spec) => (
          <label key={spec.id} class="view-option">
            <span>{spec.id}</span>
            <select
              data-option={spec.id}
              value={props.options[spec.id] ?? spec.default}
              onChange={(event) => props.onOptionChange(spec.id, (event.target as HTMLSelectElement).value)}
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
